pkglib_LTLIBRARIES += plugins/pkcs11/ocikp-pkcs11.la
pkcs11_sources = plugins/pkcs11/pkcs11.h plugins/pkcs11/pkcs11-uri.c \
	plugins/pkcs11/pkcs11-token.c plugins/pkcs11/pkcs11-oaep.c
plugins_pkcs11_ocikp_pkcs11_la_SOURCES = plugins/pkcs11/ocikp-pkcs11.c $(pkcs11_sources)
plugins_pkcs11_ocikp_pkcs11_la_CFLAGS = $(MODULE_CFLAGS) $(PKCS11_CFLAGS) -I$(top_srcdir)/lib
plugins_pkcs11_ocikp_pkcs11_la_LIBADD = lib/libocikpjwe.la $(PKCS11_LIBS)
plugins_pkcs11_ocikp_pkcs11_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/pkcs11/50-pkcs11.conf
EXTRA_DIST += plugins/pkcs11/50-pkcs11.conf
OCIKP_TEST_MODULES += plugins/pkcs11/ocikp-pkcs11.la

# Real tokens: SoftHSM2 in a private SOFTHSM2_CONF, keys made with
# pkcs11-tool (OpenSC), p11-kit seeing only that module (tests/pkcs11/lib.sh).
# p11-locked: SoftHSM with C_Login answering CKR_PIN_LOCKED.
check_LTLIBRARIES += tests/pkcs11/p11-locked.la
tests_pkcs11_p11_locked_la_SOURCES = tests/pkcs11/p11-locked.c
tests_pkcs11_p11_locked_la_CFLAGS = $(MODULE_CFLAGS) $(PKCS11_CFLAGS)
tests_pkcs11_p11_locked_la_LDFLAGS = $(MOCK_LDFLAGS_ANY)
tests_pkcs11_p11_locked_la_LIBADD = -ldl
pkcs11_tests = tests/pkcs11/softhsm.sh tests/pkcs11/e2e.sh
TESTS += $(pkcs11_tests)
EXTRA_DIST += $(pkcs11_tests) tests/pkcs11/lib.sh
