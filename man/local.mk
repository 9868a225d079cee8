# Manual pages, written in scdoc (man/*.scd) and turned into roff by make.
# The roff pages are distributed, so a build from a tarball needs no scdoc.
SCDOC = scdoc
dist_man_MANS = man/ocikp.1 man/ocikp.d.5 man/ocikp-backend.3
EXTRA_DIST += man/ocikp.1.scd man/ocikp.d.5.scd man/ocikp-backend.3.scd
MAINTAINERCLEANFILES = $(dist_man_MANS)

man/ocikp.1: man/ocikp.1.scd
man/ocikp.d.5: man/ocikp.d.5.scd
man/ocikp-backend.3: man/ocikp-backend.3.scd
$(dist_man_MANS):
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(SCDOC) < $< > $@.tmp && mv -f $@.tmp $@
