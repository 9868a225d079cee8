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

# Credential helpers the network backends share: the temporary-credential
# cache (memory + a 0600 file per identity in the state directory), the
# reading of rotated token files (Kubernetes projected tokens) and the RFC
# 3339 expiry times of token answers: libcrypto only; awskms, vault and
# gcpkms add lib/libocikpcred.la to their LIBADD.
noinst_LTLIBRARIES += lib/libocikpcred.la
lib_libocikpcred_la_SOURCES = lib/credcache.c lib/credcache.h lib/tokenfile.c lib/tokenfile.h \
	lib/rfc3339.c lib/rfc3339.h
lib_libocikpcred_la_CFLAGS = $(MODULE_CFLAGS) $(CRYPTO_CFLAGS)
lib_libocikpcred_la_LIBADD = $(CRYPTO_LIBS)

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

# JWE (RSA-OAEP-256, RSA-OAEP, ECDH-ES+A256KW on P-256/P-384; A256GCM;
# compact and flattened JSON), sealing and opening, the private key
# operation a hook: libcrypto only, so always built; kbs and pkcs11 add
# lib/libocikpjwe.la to their LIBADD.
noinst_LTLIBRARIES += lib/libocikpjwe.la
lib_libocikpjwe_la_SOURCES = lib/jwe.c lib/jwe.h
lib_libocikpjwe_la_CFLAGS = $(MODULE_CFLAGS) $(CRYPTO_CFLAGS)
lib_libocikpjwe_la_LIBADD = $(CRYPTO_LIBS)

# Its test (the file under test included, for its Concat KDF): round trips
# for each alg and form, and JWEs tests/jwe/jwe_vectors.py makes with
# Python's cryptography (and opens: the other direction).
check_PROGRAMS += tests/jwe/test-jwe
TESTS += tests/jwe/test-jwe
tests_jwe_test_jwe_SOURCES = tests/jwe/test-jwe.c
tests_jwe_test_jwe_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/lib -I$(top_srcdir)/tests/unit
tests_jwe_test_jwe_LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests/jwe/jwe_vectors.py
