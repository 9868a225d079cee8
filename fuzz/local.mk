# libFuzzer targets (clang): every parser of untrusted bytes.
#   make -j2 fuzz-smoke             each target for FUZZ_SECONDS (default 10),
#                                   two at a time with -j2
#   make fuzz FUZZ_SECONDS=600      longer
#   make fuzz-corpus FUZZ_SECONDS=300
#                                   longer, and merge what it found into the
#                                   committed corpus (-merge=1 keeps only
#                                   inputs that add coverage): commit it, so
#                                   the short smoke run starts from there
# Seeds in fuzz/corpus/<target>/ (real requests, drop-ins and the fixtures);
# fuzz and fuzz-smoke work on a copy, so the committed corpus changes only
# through fuzz-corpus.
FUZZ_SECONDS ?= 10
CLANG ?= clang
FUZZ_TARGETS = request annotation dropin b64 jwe
if ENABLE_TPM
FUZZ_TARGETS += tpm_blob tpm_pcrs tpm_url
endif
if ENABLE_KEYCHAIN
FUZZ_TARGETS += keychain_annotation
endif
if ENABLE_GCPKMS
FUZZ_TARGETS += gcpkms_response
# The module's files as plugins/gcpkms/local.mk lists them, and the HTTP and JWS helpers.
FUZZ_GCPKMS_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(gcpkms_sources)) lib/http.c lib/jws.c \
	lib/rfc3339.c lib/tokenfile.c)
endif
if ENABLE_AWSKMS
FUZZ_TARGETS += awskms_response awskms_meta
FUZZ_AWSKMS_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(awskms_sources)) lib/http.c \
	lib/rfc3339.c lib/tokenfile.c)
endif
if ENABLE_VAULT
FUZZ_TARGETS += vault_response
# The module's files as plugins/vault/local.mk lists them (the descriptor's
# file aside), and the HTTP helper.
FUZZ_VAULT_SRC = $(addprefix $(top_srcdir)/,$(filter %.c,$(vault_sources)) lib/http.c)
endif
if ENABLE_KBS
# kbs_jwe includes plugins/kbs/kbs-jwe.c itself (for its fixed test keys) and
# links lib/jwe.c (as jwe, the JWE parser itself, does);
# kbs_param and kbs_packet link the file of their name (kbs-param.c, kbs-packet.c).
FUZZ_TARGETS += kbs_jwe kbs_param kbs_packet
endif
if ENABLE_PKCS11
# pkcs11_uri links plugins/pkcs11/pkcs11-uri.c, the RFC 7512 parser.
FUZZ_TARGETS += pkcs11_uri
endif
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
		$(if $(filter awskms_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/awskms \
			$(FUZZ_AWSKMS_SRC)) \
		$(if $(filter vault_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/vault \
			$(FUZZ_VAULT_SRC)) \
		$(if $(filter kbs_%,$*),-I$(top_srcdir)/lib -I$(top_srcdir)/plugins/kbs) \
		$(if $(filter jwe,$*),-I$(top_srcdir)/lib) \
		$(if $(filter jwe kbs_jwe,$*),$(top_srcdir)/lib/jwe.c) \
		$(if $(filter pkcs11_uri,$*),-I$(top_srcdir)/plugins/pkcs11 \
			$(top_srcdir)/plugins/pkcs11/pkcs11-uri.c) \
		$(if $(filter kbs_param kbs_packet,$*),$(top_srcdir)/plugins/kbs/$(subst _,-,$*).c) \
		$(FUZZ_LIBS)

fuzz-build: $(addprefix fuzz/bin/,$(FUZZ_TARGETS))

fuzz fuzz-smoke: $(addprefix fuzz-run-,$(FUZZ_TARGETS))

# One target on a copy of its corpus (no file of that name: always runs).
fuzz-run-%: fuzz/bin/%
	@work=$$(mktemp -d); cp $(top_srcdir)/fuzz/corpus/$*/* $$work/ 2>/dev/null || true; \
	fuzz/bin/$* -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -rss_limit_mb=1024 \
		$$work > fuzz/$*.log 2>&1 || { tail -40 fuzz/$*.log; rm -rf $$work; exit 1; }; \
	printf 'fuzz %-20s %10s executions in %ss, corpus %s\n' $* \
		"$$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz/$*.log)" $(FUZZ_SECONDS) \
		"$$(ls $$work | wc -l)"; \
	rm -rf $$work

fuzz-corpus: $(addprefix fuzz-merge-,$(FUZZ_TARGETS))

fuzz-merge-%: fuzz/bin/%
	@work=$$(mktemp -d); cp $(top_srcdir)/fuzz/corpus/$*/* $$work/ 2>/dev/null || true; \
	fuzz/bin/$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 $$work > fuzz/$*.log 2>&1 && \
	fuzz/bin/$* -merge=1 $(top_srcdir)/fuzz/corpus/$* $$work >> fuzz/$*.log 2>&1 || \
		{ tail -40 fuzz/$*.log; rm -rf $$work; exit 1; }; \
	printf 'fuzz %-20s corpus now %s files\n' $* "$$(ls $(top_srcdir)/fuzz/corpus/$* | wc -l)"; \
	rm -rf $$work

clean-local: clean-fuzz
clean-fuzz:
	-rm -rf fuzz/bin fuzz/*.log
.PHONY: fuzz fuzz-smoke fuzz-build fuzz-corpus clean-fuzz
EXTRA_DIST += fuzz/fuzz.h fuzz/fixed-rsa.h $(addprefix fuzz/,$(addsuffix .c,request annotation dropin b64 tpm_blob tpm_pcrs \
	tpm_url keychain_annotation gcpkms_response kbs_jwe kbs_param kbs_packet jwe pkcs11_uri awskms_response awskms_meta vault_response)) \
	fuzz/corpus
