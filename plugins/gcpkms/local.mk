pkglib_LTLIBRARIES += plugins/gcpkms/ocikp-gcpkms.la
gcpkms_sources = plugins/gcpkms/gcpkms.h plugins/gcpkms/gcpkms-opts.c \
	plugins/gcpkms/gcpkms-kms.c plugins/gcpkms/gcpkms-crc32c.c plugins/gcpkms/gcpkms-cred.c \
	plugins/gcpkms/gcpkms-jwt.c plugins/gcpkms/gcpkms-cache.c
plugins_gcpkms_ocikp_gcpkms_la_SOURCES = plugins/gcpkms/ocikp-gcpkms.c $(gcpkms_sources)
plugins_gcpkms_ocikp_gcpkms_la_CFLAGS = $(MODULE_CFLAGS) $(GCPKMS_CFLAGS) -I$(top_srcdir)/lib
plugins_gcpkms_ocikp_gcpkms_la_LIBADD = lib/libocikphttp.la lib/libocikpjws.la lib/libocikpcred.la $(GCPKMS_LIBS)
plugins_gcpkms_ocikp_gcpkms_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/gcpkms/50-gcpkms.conf
EXTRA_DIST += plugins/gcpkms/50-gcpkms.conf
OCIKP_TEST_MODULES += plugins/gcpkms/ocikp-gcpkms.la

# CRC32C against RFC 3720's vectors.
check_PROGRAMS += tests/gcpkms/test-crc32c
TESTS += tests/gcpkms/test-crc32c
tests_gcpkms_test_crc32c_SOURCES = tests/gcpkms/test-crc32c.c plugins/gcpkms/gcpkms-crc32c.c
tests_gcpkms_test_crc32c_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/plugins/gcpkms -I$(top_srcdir)/tests/unit

# The fake Google services the gcpkms tests run against, and its own
# strictness test.
TESTS += tests/gcpkms/selftest.sh
EXTRA_DIST += tests/gcpkms/selftest.sh tests/gcpkms/fake_gcp.py tests/gcpkms/lib.sh

# The credentials and JWT code on the real host services (TAP): RS256
# checked with OpenSSL, token answers, credentials files and the ADC order.
check_PROGRAMS += tests/gcpkms/test-jwt
tests_gcpkms_test_jwt_SOURCES = tests/gcpkms/test-jwt.c plugins/gcpkms/gcpkms.h \
	plugins/gcpkms/gcpkms-jwt.c plugins/gcpkms/gcpkms-cred.c
tests_gcpkms_test_jwt_CFLAGS = $(UNIT_CFLAGS) $(GCPKMS_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/gcpkms
tests_gcpkms_test_jwt_LDADD = lib/libocikphttp.la lib/libocikpjws.la lib/libocikpcred.la $(UNIT_LDADD) $(GCPKMS_LIBS)
TESTS += tests/gcpkms/test-jwt

# gcpkms-cred.c against the fake Google server (tests/gcpkms/fake_gcp.py):
# every credential type, refusals, retries; tests/gcpkms/cred.sh drives it.
check_PROGRAMS += tests/gcpkms/test-cred
tests_gcpkms_test_cred_SOURCES = tests/gcpkms/test-cred.c plugins/gcpkms/gcpkms.h \
	plugins/gcpkms/gcpkms-jwt.c plugins/gcpkms/gcpkms-cred.c
tests_gcpkms_test_cred_CFLAGS = $(UNIT_CFLAGS) $(GCPKMS_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/gcpkms
tests_gcpkms_test_cred_LDADD = lib/libocikphttp.la lib/libocikpjws.la lib/libocikpcred.la $(UNIT_LDADD) $(GCPKMS_LIBS)
TESTS += tests/gcpkms/cred.sh
EXTRA_DIST += tests/gcpkms/cred.sh

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
tests_gcpkms_test_cache_LDADD = lib/libocikphttp.la $(UNIT_LDADD) $(GCPKMS_LIBS)

# The backend through the ocikp binary and through ocicrypt (tests/go),
# against the fake services.
gcpkms_tests = tests/gcpkms/gcpkms.sh tests/gcpkms/e2e.sh tests/gcpkms/secrets.sh \
	tests/gcpkms/cachebound.sh
TESTS += $(gcpkms_tests)
EXTRA_DIST += $(gcpkms_tests)

# The backend kept loaded as ocikpd keeps it (host/pool.c), in one process
# against the fake: access tokens served from memory, a 401 dropping the
# one in memory, the expiry margin, nothing left after fini (the shim).
# tests/gcpkms/memcache.sh drives it.
check_PROGRAMS += tests/gcpkms/test-memcache
tests_gcpkms_test_memcache_SOURCES = tests/gcpkms/test-memcache.c
tests_gcpkms_test_memcache_CFLAGS = $(UNIT_CFLAGS)
tests_gcpkms_test_memcache_LDADD = $(UNIT_LDADD)
TESTS += tests/gcpkms/memcache.sh
EXTRA_DIST += tests/gcpkms/memcache.sh

# Through ocikpd: the HTTPS connections kept across calls (the fake counts
# TLS connections), a server closing them, TLS session resumption.
TESTS += tests/gcpkms/keepalive.sh
EXTRA_DIST += tests/gcpkms/keepalive.sh
