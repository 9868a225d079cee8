# ocikpd's systemd units and its sysusers.d file; included from
# daemon/local.mk (so only when ocikpd is built).  The installed copies
# are made in daemon/units/: the service's ExecStart names $(bindir), and
# ocikp.sysusers is installed under the name sysusers.d expects.  The
# sources are dist_noinst_*, not EXTRA_DIST: automake distributes those in
# every condition, so a tarball made where ocikpd is not built has them.
systemdsystemunit_DATA = daemon/units/ocikpd.socket daemon/units/ocikpd.service
sysusers_DATA = daemon/units/ocikp.conf
dist_noinst_DATA = daemon/ocikpd.socket daemon/ocikpd.service daemon/ocikp.sysusers
CLEANFILES += $(systemdsystemunit_DATA) $(sysusers_DATA)

daemon/units/ocikpd.service: daemon/ocikpd.service
	$(AM_V_GEN)$(MKDIR_P) daemon/units && \
	sed 's|^ExecStart=/usr/bin/ocikpd|ExecStart=$(bindir)/ocikpd|' \
		$(srcdir)/daemon/ocikpd.service > $@.tmp && mv -f $@.tmp $@
daemon/units/ocikpd.socket: daemon/ocikpd.socket
	$(AM_V_GEN)$(MKDIR_P) daemon/units && cp $(srcdir)/daemon/ocikpd.socket $@
daemon/units/ocikp.conf: daemon/ocikp.sysusers
	$(AM_V_GEN)$(MKDIR_P) daemon/units && cp $(srcdir)/daemon/ocikp.sysusers $@

# The units' checks (systemd-analyze verify, the sandbox lines).
TESTS += tests/daemon/units.sh
dist_noinst_SCRIPTS = tests/daemon/units.sh
