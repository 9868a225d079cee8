# Convenience code the network backends share, linked into each module that
# uses it (never into the ocikp binary, which must not depend on libcurl).
# A module adds lib/libocikphttp.la to its LIBADD and $(CURL_CFLAGS) to
# its CFLAGS, inside `if HAVE_CURL`.
if HAVE_CURL
noinst_LTLIBRARIES += lib/libocikphttp.la
lib_libocikphttp_la_SOURCES = lib/http.c lib/http.h
lib_libocikphttp_la_CFLAGS = $(MODULE_CFLAGS) $(CURL_CFLAGS)
lib_libocikphttp_la_LIBADD = $(CURL_LIBS)

# Its test: a C driver on the real host services against a local HTTPS
# server (tests/http/server.py) with a CA the test makes.
check_PROGRAMS += tests/http/test-http
tests_http_test_http_SOURCES = tests/http/test-http.c
tests_http_test_http_CFLAGS = $(UNIT_CFLAGS) $(CURL_CFLAGS) -I$(top_srcdir)/lib
tests_http_test_http_LDADD = lib/libocikphttp.la $(UNIT_LDADD)
TESTS += tests/http/http.sh
endif
EXTRA_DIST += tests/http/http.sh tests/http/server.py

# The JWS signer (RS256, EdDSA) for JWTs: libcrypto only, so always built;
# a module adds lib/libocikpjws.la to its LIBADD.
noinst_LTLIBRARIES += lib/libocikpjws.la
lib_libocikpjws_la_SOURCES = lib/jws.c lib/jws.h
lib_libocikpjws_la_CFLAGS = $(MODULE_CFLAGS) $(CRYPTO_CFLAGS)
lib_libocikpjws_la_LIBADD = $(CRYPTO_LIBS)

# Its test: tokens verified by Python's cryptography.
check_PROGRAMS += tests/jws/test-jws
tests_jws_test_jws_SOURCES = tests/jws/test-jws.c
tests_jws_test_jws_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/lib
tests_jws_test_jws_LDADD = lib/libocikpjws.la $(UNIT_LDADD)
TESTS += tests/jws/jws.sh
EXTRA_DIST += tests/jws/jws.sh
