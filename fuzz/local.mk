# libFuzzer targets (clang): every parser of untrusted bytes.
#   make -j2 fuzz-smoke             (CI) each target replays its committed
#                                   corpus, then fuzzes FUZZ_SECONDS (10)
#   make fuzz-long                  each target for FUZZ_LONG_SECONDS (600),
#                                   one line of figures each (executions,
#                                   CPU seconds, coverage, corpus, findings),
#                                   and what it found merged into the
#                                   committed corpus (-merge=1 keeps only
#                                   inputs that add coverage): commit it, so
#                                   the smoke run starts from there.
#                                   FUZZ_TARGETS="a b" picks targets.
# Seeds in fuzz/corpus/<target>/ (real requests, drop-ins and the fixtures);
# findings in fuzz/findings/<target>/.  fuzz/run.sh runs one target.
FUZZ_SECONDS ?= 10
CLANG ?= clang
FUZZ_TARGETS = request annotation dropin b64 jwe
FUZZ_TARGETS += inspect envelope sample_unwrap
if ENABLE_TPM
FUZZ_TARGETS += tpm_blob tpm_pcrs tpm_url
FUZZ_TARGETS += tpm_annotation
if ENABLE_DAEMON
if HAVE_CURL
# options includes plugins/tpm/tpm-tcti.c and links daemon/serve-opts.c and lib/http.c.
FUZZ_TARGETS += options
endif
endif
endif
if ENABLE_KEYCHAIN
FUZZ_TARGETS += keychain_annotation
FUZZ_TARGETS += keychain_pub
endif
# lib/libocikpcred.la's files, for the network backends' targets.
FUZZ_CRED_SRC = lib/credcache.c lib/tokenfile.c lib/rfc3339.c
if ENABLE_GCPKMS
FUZZ_TARGETS += gcpkms_response
FUZZ_TARGETS += gcpkms_cache
FUZZ_TARGETS += gcpkms_cred
FUZZ_TARGETS += gcpkms_url
# The module's files as plugins/gcpkms/local.mk lists them, and the HTTP and JWS helpers.
FUZZ_GCPKMS_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(gcpkms_sources)) lib/http.c lib/jws.c \
	$(FUZZ_CRED_SRC))
endif
if ENABLE_AWSKMS
FUZZ_TARGETS += awskms_response awskms_meta sts_response
FUZZ_AWSKMS_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(awskms_sources)) lib/http.c $(FUZZ_CRED_SRC))
endif
if ENABLE_VAULT
FUZZ_TARGETS += vault_response
# The module's files as plugins/vault/local.mk lists them (the descriptor's
# file aside), and the HTTP helper.
FUZZ_VAULT_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(vault_sources)) lib/http.c $(FUZZ_CRED_SRC))
endif
if ENABLE_KBS
# kbs_jwe includes plugins/kbs/kbs-jwe.c itself (for its fixed test keys) and
# links lib/jwe.c (as jwe, the JWE parser itself, does);
# kbs_param and kbs_packet link the file of their name (kbs-param.c, kbs-packet.c).
FUZZ_TARGETS += kbs_jwe kbs_param kbs_packet
# kbs_rcar and the like include the module file whose static functions they
# drive (FUZZ_KBS_INC_<target>) and link the rest of the module, lib/http.c,
# lib/jws.c and lib/jwe.c; http_cookie includes lib/http.c.
FUZZ_KBS_SRC = $(filter %.c,$(kbs_sources)) lib/http.c lib/jws.c lib/jwe.c
FUZZ_KBS_MODULE = kbs_rcar kbs_register kbs_opts
FUZZ_KBS_INC_kbs_rcar = plugins/kbs/kbs-rcar.c
FUZZ_KBS_INC_kbs_register = plugins/kbs/kbs-register.c plugins/kbs/kbs-keys.c
FUZZ_KBS_INC_kbs_opts = plugins/kbs/kbs-rcar.c $(FUZZ_KBS_INC_kbs_register) plugins/kbs/ocikp-kbs.c
FUZZ_TARGETS += $(FUZZ_KBS_MODULE)
FUZZ_TARGETS += http_cookie
endif
if ENABLE_PKCS11
# pkcs11_uri links plugins/pkcs11/pkcs11-uri.c, the RFC 7512 parser.
FUZZ_TARGETS += pkcs11_uri
endif
if ENABLE_DAEMON
# ocikpd: grpc_unpack links daemon/grpc.c and the generated messages;
# grpc_frame includes daemon/conn.c and links the rest ocikpd's sessions use.
FUZZ_TARGETS += grpc_unpack grpc_frame
fuzz/bin/grpc_unpack fuzz/bin/grpc_frame: daemon/keyprovider.pb-c.c
endif
FUZZ_DAEMON_SRC = $(top_srcdir)/daemon/grpc.c daemon/keyprovider.pb-c.c
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-D_GNU_SOURCE -DPACKAGE_VERSION=\"$(PACKAGE_VERSION)\" \
	-I$(top_srcdir)/include -I$(top_srcdir)/host $(YAJL_CFLAGS) $(CRYPTO_CFLAGS) $(TPM_CFLAGS) \
	$(KEYCHAIN_CFLAGS) $(GCPKMS_CFLAGS) $(KBS_CFLAGS) $(PKCS11_CFLAGS) $(AWSKMS_CFLAGS) $(VAULT_CFLAGS)
FUZZ_HOST_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(host_libocikphost_a_SOURCES)))
FUZZ_TPM_SRC = $(addprefix $(top_srcdir)/plugins/tpm/,ocikp-tpm.c tpm-blob.c tpm-pcr.c tpm-dup.c tpm-esys.c \
	tpm-tcti.c)
FUZZ_KEYCHAIN_SRC = $(addprefix $(top_srcdir)/plugins/keychain/,ocikp-keychain.c keychain-ecies.c keychain-store.c)
FUZZ_LIBS = $(LTDL_LIBS) $(YAJL_LIBS) $(CRYPTO_LIBS) $(TPM_LIBS) $(KEYCHAIN_LIBS) $(GCPKMS_LIBS) $(KBS_LIBS) $(AWSKMS_LIBS) $(VAULT_LIBS)

fuzz/bin/%: $(top_srcdir)/fuzz/%.c $(top_srcdir)/fuzz/fuzz.h $(top_srcdir)/fuzz/fixed-rsa.h $(FUZZ_HOST_SRC)
	@mkdir -p fuzz/bin
	$(AM_V_CC)$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_HOST_SRC) \
		$(if $(filter tpm_%,$*),$(FUZZ_TPM_SRC)) \
		$(if $(filter keychain_%,$*),$(FUZZ_KEYCHAIN_SRC)) \
		$(if $(filter gcpkms_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/gcpkms \
			$(FUZZ_GCPKMS_SRC)) \
		$(if $(filter awskms_% sts_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/awskms \
			$(FUZZ_AWSKMS_SRC)) \
		$(if $(filter vault_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/vault \
			$(FUZZ_VAULT_SRC)) \
		$(if $(filter kbs_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/kbs) \
		$(if $(filter jwe,$*),-I$(top_srcdir)/lib) \
		$(if $(filter jwe kbs_jwe,$*),$(top_srcdir)/lib/jwe.c) \
		$(if $(filter options,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/daemon \
			$(top_srcdir)/lib/http.c $(top_srcdir)/daemon/serve-opts.c $(CURL_LIBS)) \
		$(if $(filter pkcs11_uri,$*),-I$(top_srcdir)/plugins/pkcs11 \
			$(top_srcdir)/plugins/pkcs11/pkcs11-uri.c) \
		$(if $(filter kbs_param kbs_packet,$*),$(top_srcdir)/plugins/kbs/$(subst _,-,$*).c) \
		$(if $(filter $(FUZZ_KBS_MODULE),$*),$(addprefix $(top_srcdir)/,$(filter-out \
			$(FUZZ_KBS_INC_$*),$(FUZZ_KBS_SRC)))) \
		$(if $(filter http_cookie,$*),-I$(top_srcdir)/lib) \
		$(if $(filter grpc_frame,$*),$(addprefix $(top_srcdir)/daemon/,peer.c work.c serve-opts.c)) \
		$(if $(filter grpc_%,$*),-I$(top_srcdir)/daemon -Idaemon $(DAEMON_CFLAGS) \
			$(FUZZ_DAEMON_SRC) $(DAEMON_LIBS)) \
		$(FUZZ_LIBS)

fuzz-build: $(addprefix fuzz/bin/,$(FUZZ_TARGETS))

FUZZ_LONG_SECONDS ?= 600
fuzz-smoke: $(addprefix fuzz-smoke-,$(FUZZ_TARGETS))
fuzz-long: $(addprefix fuzz-long-,$(FUZZ_TARGETS))

# One target (no file of these names: they always run).
fuzz-smoke-%: fuzz/bin/%
	@bash $(top_srcdir)/fuzz/run.sh smoke $< $(top_srcdir)/fuzz/corpus/$* $(FUZZ_SECONDS)
fuzz-long-%: fuzz/bin/%
	@bash $(top_srcdir)/fuzz/run.sh long $< $(top_srcdir)/fuzz/corpus/$* $(FUZZ_LONG_SECONDS)

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf fuzz/bin fuzz/*.log fuzz/findings
# envelope loads the sample backend and the tests' mock as real modules
# (loader_open) from fuzz/bin/plugins/, built with its sanitizers and coverage.
FUZZ_MODULE_CFLAGS = -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fPIC -shared -fvisibility=hidden -DPACKAGE_VERSION=\"$(PACKAGE_VERSION)\" \
	-I$(top_srcdir)/include $(CRYPTO_CFLAGS)
fuzz/bin/envelope: fuzz/bin/plugins/ocikp-sample.so fuzz/bin/plugins/ocikp-mock.so
fuzz/bin/plugins/ocikp-sample.so: $(top_srcdir)/plugins/sample/ocikp-sample.c
fuzz/bin/plugins/ocikp-mock.so: $(top_srcdir)/tests/mock/ocikp-mock.c
fuzz/bin/plugins/%.so:
	@mkdir -p fuzz/bin/plugins
	$(AM_V_CC)$(CLANG) $(FUZZ_MODULE_CFLAGS) -o $@ $< $(CRYPTO_LIBS)

.PHONY: fuzz-smoke fuzz-long fuzz-build clean-fuzz
EXTRA_DIST += fuzz/run.sh fuzz/fuzz.h fuzz/fixed-rsa.h fuzz/awskms-state.h $(addprefix fuzz/,$(addsuffix .c,request annotation dropin b64 tpm_blob tpm_pcrs \
	tpm_url keychain_annotation gcpkms_response kbs_jwe kbs_param kbs_packet jwe pkcs11_uri awskms_response awskms_meta sts_response vault_response \
	kbs_rcar http_cookie kbs_register kbs_opts \
	grpc_unpack grpc_frame)) fuzz/grpc_frame_seeds.py \
	fuzz/gcpkms_cache.c fuzz/gcpkms_cred.c fuzz/gcpkms_url.c \
	fuzz/corpus
EXTRA_DIST += fuzz/inspect.c fuzz/envelope.c fuzz/sample_unwrap.c fuzz/tpm_annotation.c fuzz/keychain_pub.c fuzz/options.c
