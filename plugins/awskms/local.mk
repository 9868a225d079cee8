pkglib_LTLIBRARIES += plugins/awskms/ocikp-awskms.la
awskms_sources = plugins/awskms/awskms.h plugins/awskms/awskms-opts.c \
	plugins/awskms/awskms-sigv4.c plugins/awskms/awskms-cred.c plugins/awskms/awskms-kms.c \
	plugins/awskms/awskms-sts.c plugins/awskms/awskms-meta.c
plugins_awskms_ocikp_awskms_la_SOURCES = plugins/awskms/ocikp-awskms.c $(awskms_sources)
plugins_awskms_ocikp_awskms_la_CFLAGS = $(MODULE_CFLAGS) $(AWSKMS_CFLAGS) -I$(top_srcdir)/lib
plugins_awskms_ocikp_awskms_la_LIBADD = lib/libocikphttp.la lib/libocikpcred.la $(AWSKMS_LIBS)
plugins_awskms_ocikp_awskms_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/awskms/50-awskms.conf
EXTRA_DIST += plugins/awskms/50-awskms.conf
OCIKP_TEST_MODULES += plugins/awskms/ocikp-awskms.la

# The backend through the ocikp binary and through ocicrypt (tests/go, e2e.sh)
# against tests/awskms/fake_aws.py,
# which verifies every request's SigV4 signature byte for byte.
awskms_tests = tests/awskms/awskms.sh tests/awskms/selftest.sh tests/awskms/e2e.sh tests/awskms/daemon.sh \
	tests/awskms/sts.sh tests/awskms/meta.sh
TESTS += $(awskms_tests)
EXTRA_DIST += $(awskms_tests) tests/awskms/fake_aws.py tests/awskms/lib.sh

# SigV4 against AWS's published example and the canonicalisation rules; the
# shared files' INI reading (on the real host services).
check_PROGRAMS += tests/awskms/test-sigv4
TESTS += tests/awskms/test-sigv4
tests_awskms_test_sigv4_SOURCES = tests/awskms/test-sigv4.c $(awskms_sources)
tests_awskms_test_sigv4_CFLAGS = $(UNIT_CFLAGS) $(AWSKMS_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/awskms
tests_awskms_test_sigv4_LDADD = lib/libocikphttp.la lib/libocikpcred.la $(UNIT_LDADD) $(AWSKMS_LIBS)
