pkglib_LTLIBRARIES += plugins/sample/ocikp-sample.la
plugins_sample_ocikp_sample_la_SOURCES = plugins/sample/ocikp-sample.c
plugins_sample_ocikp_sample_la_CFLAGS = $(MODULE_CFLAGS) $(CRYPTO_CFLAGS)
plugins_sample_ocikp_sample_la_LIBADD = $(CRYPTO_LIBS)
plugins_sample_ocikp_sample_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/sample/50-sample.conf
EXTRA_DIST += plugins/sample/50-sample.conf
OCIKP_TEST_MODULES += plugins/sample/ocikp-sample.la
