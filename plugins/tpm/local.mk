pkglib_LTLIBRARIES += plugins/tpm/ocikp-tpm.la
plugins_tpm_ocikp_tpm_la_SOURCES = plugins/tpm/ocikp-tpm.c plugins/tpm/tpm.h \
	plugins/tpm/tpm-blob.c plugins/tpm/tpm-pcr.c plugins/tpm/tpm-dup.c plugins/tpm/tpm-esys.c \
	plugins/tpm/tpm-tcti.c
plugins_tpm_ocikp_tpm_la_CFLAGS = $(MODULE_CFLAGS) $(TPM_CFLAGS)
plugins_tpm_ocikp_tpm_la_LIBADD = $(TPM_LIBS)
plugins_tpm_ocikp_tpm_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/tpm/50-tpm.conf
EXTRA_DIST += plugins/tpm/50-tpm.conf tests/tpm/lib.sh $(tpm_tests)
OCIKP_TEST_MODULES += plugins/tpm/ocikp-tpm.la
tpm_tests = tests/tpm/fixtures.sh tests/tpm/swtpm.sh tests/tpm/parallel.sh tests/tpm/transport.sh \
	tests/tpm/reuse.sh tests/tpm/libctx.sh
TESTS += $(tpm_tests)
check_PROGRAMS += tests/tpm/test-blob
TESTS += tests/tpm/test-blob
tests_tpm_test_blob_SOURCES = tests/tpm/test-blob.c plugins/tpm/tpm-blob.c plugins/tpm/tpm-pcr.c
tests_tpm_test_blob_CFLAGS = $(UNIT_CFLAGS) $(TPM_CFLAGS)
tests_tpm_test_blob_LDADD = $(UNIT_LDADD) $(TPM_LIBS)
# The backend serving many requests in one process (ocikpd's pool), driven
# by tests/tpm/reuse.sh: the kept connection, its recovery after a restart.
check_PROGRAMS += tests/tpm/test-reuse
tests_tpm_test_reuse_SOURCES = tests/tpm/test-reuse.c
tests_tpm_test_reuse_CFLAGS = $(UNIT_CFLAGS)
tests_tpm_test_reuse_LDADD = $(UNIT_LDADD)
# Counts the OpenSSL library contexts a process makes, for
# tests/tpm/libctx.sh (tpm2-tss 3.2's ESAPI made one per nonce and hash).
check_LTLIBRARIES += tests/tpm/libctx-count.la
tests_tpm_libctx_count_la_SOURCES = tests/tpm/libctx-count.c
tests_tpm_libctx_count_la_CFLAGS = $(AM_CFLAGS)
tests_tpm_libctx_count_la_LIBADD = -ldl
tests_tpm_libctx_count_la_LDFLAGS = $(MOCK_LDFLAGS_ANY)
