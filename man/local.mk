# Manual pages, written in scdoc (man/*.scd) and turned into roff by make.
# The roff pages are distributed, so a build from a tarball needs no scdoc.
SCDOC = scdoc
dist_man_MANS = man/ocikp.1 man/ocikp.d.5 man/ocikp-backend.3
# ocikpd's page is installed with ocikpd, and distributed always.
if ENABLE_DAEMON
dist_man_MANS += man/ocikpd.8
else
EXTRA_DIST += man/ocikpd.8
endif
EXTRA_DIST += man/ocikp.1.scd man/ocikp.d.5.scd man/ocikp-backend.3.scd man/ocikpd.8.scd
# Every page, once: ocikpd.8 is in dist_man_MANS too when the daemon is built.
man_pages = man/ocikp.1 man/ocikp.d.5 man/ocikp-backend.3 man/ocikpd.8
MAINTAINERCLEANFILES = $(man_pages)

man/ocikp.1: man/ocikp.1.scd
man/ocikp.d.5: man/ocikp.d.5.scd
man/ocikp-backend.3: man/ocikp-backend.3.scd
man/ocikpd.8: man/ocikpd.8.scd
$(man_pages):
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(SCDOC) < $< > $@.tmp && mv -f $@.tmp $@
