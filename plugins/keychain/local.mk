pkglib_LTLIBRARIES += plugins/keychain/ocikp-keychain.la
plugins_keychain_ocikp_keychain_la_SOURCES = plugins/keychain/ocikp-keychain.c \
	plugins/keychain/keychain.h plugins/keychain/keychain-ecies.c plugins/keychain/keychain-store.c
plugins_keychain_ocikp_keychain_la_CFLAGS = $(MODULE_CFLAGS) $(KEYCHAIN_CFLAGS)
plugins_keychain_ocikp_keychain_la_LIBADD = $(KEYCHAIN_LIBS)
plugins_keychain_ocikp_keychain_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/keychain/50-keychain.conf
OCIKP_TEST_MODULES += plugins/keychain/ocikp-keychain.la
keychain_tests = tests/keychain/ecies.sh tests/keychain/secret-service.sh
TESTS += $(keychain_tests)
EXTRA_DIST += plugins/keychain/50-keychain.conf tests/keychain/vectors.py $(keychain_tests)
