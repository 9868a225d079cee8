pkglib_LTLIBRARIES += plugins/gcpkms/ocikp-gcpkms.la
gcpkms_sources = plugins/gcpkms/gcpkms.h plugins/gcpkms/gcpkms-opts.c \
	plugins/gcpkms/gcpkms-kms.c plugins/gcpkms/gcpkms-crc32c.c plugins/gcpkms/gcpkms-cred.c \
	plugins/gcpkms/gcpkms-jwt.c plugins/gcpkms/gcpkms-cache.c
plugins_gcpkms_ocikp_gcpkms_la_SOURCES = plugins/gcpkms/ocikp-gcpkms.c $(gcpkms_sources)
plugins_gcpkms_ocikp_gcpkms_la_CFLAGS = $(MODULE_CFLAGS) $(GCPKMS_CFLAGS) -I$(top_srcdir)/lib
plugins_gcpkms_ocikp_gcpkms_la_LIBADD = lib/libocikphttp.la $(GCPKMS_LIBS)
plugins_gcpkms_ocikp_gcpkms_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/gcpkms/50-gcpkms.conf
EXTRA_DIST += plugins/gcpkms/50-gcpkms.conf
OCIKP_TEST_MODULES += plugins/gcpkms/ocikp-gcpkms.la

# The token cache on the real host services, the credential functions
# stubbed.  As root it uses /run/ocikp/gcpkms (identities of its own,
# removed at the end) and runs again as uid 65534.
check_PROGRAMS += tests/gcpkms/test-cache
TESTS += tests/gcpkms/test-cache
tests_gcpkms_test_cache_SOURCES = tests/gcpkms/test-cache.c tests/gcpkms/cred-stub.c \
	tests/gcpkms/cred-stub.h plugins/gcpkms/gcpkms-cache.c
tests_gcpkms_test_cache_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/gcpkms \
	-I$(top_srcdir)/lib
tests_gcpkms_test_cache_CFLAGS = $(UNIT_CFLAGS) $(GCPKMS_CFLAGS)
tests_gcpkms_test_cache_LDADD = $(UNIT_LDADD) $(GCPKMS_LIBS)
