# The host: a static convenience library (shared with the unit tests and
# fuzzers) and the ocikp binary.
noinst_LIBRARIES += host/libocikphost.a
host_libocikphost_a_SOURCES = \
	host/ocikp.h host/admin.c host/aead.c host/alloc.c host/b64.c host/caller.c \
	host/conf.c host/deadline.c host/err.c host/form.c host/host.c host/json.c host/loader.c \
	host/pool.c host/privfile.c host/request.c host/response.c host/route.c \
	host/secbuf.c host/serve.c host/setup.c host/statedir.c host/text.c host/trust.c host/url.c
host_libocikphost_a_CFLAGS = $(AM_CFLAGS) $(YAJL_CFLAGS) $(CRYPTO_CFLAGS)
HOST_LIBS = host/libocikphost.a $(LTDL_LIBS) $(YAJL_LIBS) $(CRYPTO_LIBS)

bin_PROGRAMS += ocikp
ocikp_SOURCES = host/main.c
ocikp_LDADD = $(HOST_LIBS)
