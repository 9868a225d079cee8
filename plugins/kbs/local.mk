pkglib_LTLIBRARIES += plugins/kbs/ocikp-kbs.la
kbs_sources = plugins/kbs/kbs.h plugins/kbs/kbs-param.c plugins/kbs/kbs-packet.c \
	plugins/kbs/kbs-keys.c plugins/kbs/kbs-register.c plugins/kbs/kbs-rcar.c \
	plugins/kbs/kbs-jwe.c
plugins_kbs_ocikp_kbs_la_SOURCES = plugins/kbs/ocikp-kbs.c $(kbs_sources)
plugins_kbs_ocikp_kbs_la_CFLAGS = $(MODULE_CFLAGS) $(KBS_CFLAGS) -I$(top_srcdir)/lib
plugins_kbs_ocikp_kbs_la_LIBADD = lib/libocikphttp.la lib/libocikpjws.la lib/libocikpjwe.la \
	$(KBS_LIBS)
plugins_kbs_ocikp_kbs_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/kbs/50-kbs.conf
EXTRA_DIST += plugins/kbs/50-kbs.conf
OCIKP_TEST_MODULES += plugins/kbs/ocikp-kbs.la

# Parameter strings, kids and packets, on the real host services.
check_PROGRAMS += tests/kbs/test-param
TESTS += tests/kbs/test-param
tests_kbs_test_param_SOURCES = tests/kbs/test-param.c plugins/kbs/kbs-param.c \
	plugins/kbs/kbs-keys.c \
	plugins/kbs/kbs-packet.c
tests_kbs_test_param_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/kbs -I$(top_srcdir)/tests/unit
tests_kbs_test_param_LDADD = $(UNIT_LDADD)

kbs_tests = tests/kbs/wrap.sh tests/kbs/offline.sh tests/kbs/register.sh tests/kbs/e2e.sh \
	tests/kbs/keep.sh
TESTS += $(kbs_tests)
EXTRA_DIST += $(kbs_tests) tests/kbs/lib.sh tests/kbs/fake_kbs.py

# The TEE keys and JWE (the file under test included, lib/jwe.c linked),
# against JWEs Python's cryptography makes (tests/kbs/jwe_vectors.py).
check_PROGRAMS += tests/kbs/test-jwe
TESTS += tests/kbs/test-jwe
tests_kbs_test_jwe_SOURCES = tests/kbs/test-jwe.c
tests_kbs_test_jwe_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/kbs -I$(top_srcdir)/tests/unit
tests_kbs_test_jwe_LDADD = lib/libocikpjwe.la $(UNIT_LDADD)

# The RCAR client (the file under test included) against the local KBS,
# driven by tests/kbs/rcar.sh; the KBS itself checked by selftest.sh.
check_PROGRAMS += tests/kbs/test-rcar
tests_kbs_test_rcar_SOURCES = tests/kbs/test-rcar.c plugins/kbs/kbs-jwe.c
tests_kbs_test_rcar_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/lib \
	-I$(top_srcdir)/plugins/kbs -I$(top_srcdir)/tests/unit
tests_kbs_test_rcar_LDADD = lib/libocikphttp.la lib/libocikpjwe.la $(UNIT_LDADD)
TESTS += tests/kbs/rcar.sh tests/kbs/selftest.sh
EXTRA_DIST += tests/kbs/rcar.sh tests/kbs/selftest.sh tests/kbs/jwe_vectors.py
