# Tests: every test prints TAP.  `make check` runs them all.
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
TEST_EXTENSIONS = .sh
SH_LOG_DRIVER = $(LOG_DRIVER)

# The built modules as .so paths, for the tests' plugin directories.
OCIKP_MODULE_PATHS = $(foreach m,$(OCIKP_TEST_MODULES),$(abs_top_builddir)/$(dir $(m)).libs/$(notdir $(m:.la=.so)))
AM_TESTS_ENVIRONMENT = \
	OCIKP="$${OCIKP_WRAPPER:-$(abs_top_builddir)/ocikp}"; export OCIKP; \
	OCIKPD="$${OCIKPD_WRAPPER:-$(abs_top_builddir)/ocikpd}"; export OCIKPD; \
	OCIKP_MODULES='$(OCIKP_MODULE_PATHS)'; export OCIKP_MODULES; \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir; \
	abs_top_builddir='$(abs_top_builddir)'; export abs_top_builddir; \
	OCIKP_FIXTURES="$(abs_top_srcdir)/tests/fixtures"; export OCIKP_FIXTURES; \
	unset OCIKP_CONFIG_DIR OCIKP_PLUGIN_DIR;

# A mock backend and broken variants of it, built only for the tests.
MOCK_LDFLAGS = $(MODULE_LDFLAGS) -rpath /nowhere
MOCK_LDFLAGS_ANY = $(AM_LDFLAGS) -module -avoid-version -shared -rpath /nowhere
check_LTLIBRARIES += tests/mock/ocikp-mock.la tests/mock/ocikp-mock-badabi.la \
	tests/mock/ocikp-mock-small.la tests/mock/ocikp-mock-nosym.la
tests_mock_ocikp_mock_la_SOURCES = tests/mock/ocikp-mock.c
tests_mock_ocikp_mock_la_CFLAGS = $(MODULE_CFLAGS)
tests_mock_ocikp_mock_la_LDFLAGS = $(MOCK_LDFLAGS)
tests_mock_ocikp_mock_badabi_la_SOURCES = tests/mock/ocikp-mock.c
tests_mock_ocikp_mock_badabi_la_CFLAGS = $(MODULE_CFLAGS) -DMOCK_ABI=99
tests_mock_ocikp_mock_badabi_la_LDFLAGS = $(MOCK_LDFLAGS)
tests_mock_ocikp_mock_small_la_SOURCES = tests/mock/ocikp-mock.c
tests_mock_ocikp_mock_small_la_CFLAGS = $(MODULE_CFLAGS) -DMOCK_SIZE=16
tests_mock_ocikp_mock_small_la_LDFLAGS = $(MOCK_LDFLAGS)
tests_mock_ocikp_mock_nosym_la_SOURCES = tests/mock/ocikp-mock.c
tests_mock_ocikp_mock_nosym_la_CFLAGS = $(MODULE_CFLAGS) -DMOCK_NO_SYMBOL
tests_mock_ocikp_mock_nosym_la_LDFLAGS = $(MOCK_LDFLAGS_ANY)
OCIKP_TEST_MODULES += tests/mock/ocikp-mock.la tests/mock/ocikp-mock-badabi.la \
	tests/mock/ocikp-mock-small.la tests/mock/ocikp-mock-nosym.la

# Unit tests of host files (C, TAP).
UNIT_LDADD = $(HOST_LIBS)
UNIT_CFLAGS = $(AM_CFLAGS) $(YAJL_CFLAGS) $(CRYPTO_CFLAGS)
unit_tests = tests/unit/test-b64 tests/unit/test-json tests/unit/test-url \
	tests/unit/test-conf tests/unit/test-request tests/unit/test-loader \
	tests/unit/test-secbuf
check_PROGRAMS += $(unit_tests)
TESTS += $(unit_tests)
tests_unit_test_b64_LDADD = $(UNIT_LDADD)
tests_unit_test_b64_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_json_LDADD = $(UNIT_LDADD)
tests_unit_test_json_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_url_LDADD = $(UNIT_LDADD)
tests_unit_test_url_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(UNIT_LDADD)
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_request_LDADD = $(UNIT_LDADD)
tests_unit_test_request_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_loader_LDADD = $(UNIT_LDADD)
tests_unit_test_loader_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_secbuf_LDADD = $(UNIT_LDADD)
tests_unit_test_secbuf_CFLAGS = $(UNIT_CFLAGS)
EXTRA_DIST += tests/unit/tap.h tests/unit/hex.h tests/lib/common.sh tests/lib/requests.sh tests/lib/fake.sh \
	tests/lib/fakeserver.py tests/lib/port-pair.sh tests/go/build.sh \
	tests/go/src/ocikp-e2e/main.go

# Shell tests of the whole binary.
host_tests = tests/protocol.sh tests/bad-input.sh tests/loader.sh tests/dropin.sh tests/tree.sh \
	tests/opaque.sh \
	tests/debug.sh \
	tests/envelope.sh tests/admin.sh tests/e2e-ocicrypt.sh tests/faults.sh \
	tests/installed.sh
TESTS += $(host_tests)
EXTRA_DIST += $(host_tests)

# The Go client is built on demand by the end-to-end tests.
clean-local: clean-e2e-client
clean-e2e-client:
	-rm -rf tests/go/bin
.PHONY: clean-e2e-client

# An LD_PRELOAD shim (tests/shim/ocikp-shim.c) for the secrets and load
# tests: it searches freed blocks and, at exit, all writable memory for the
# test's key bytes, and reports dumpable, open fds and VmHWM.
check_LTLIBRARIES += tests/shim/ocikp-shim.la
tests_shim_ocikp_shim_la_SOURCES = tests/shim/ocikp-shim.c
tests_shim_ocikp_shim_la_CFLAGS = $(AM_CFLAGS)
tests_shim_ocikp_shim_la_LDFLAGS = $(MOCK_LDFLAGS_ANY)
TESTS += tests/secrets.sh
EXTRA_DIST += tests/secrets.sh tests/load.sh

# The 1000-exec load test takes minutes on a busy machine: not part of
# `make check`; CI runs it as a stage of its own.
check-load:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/load.sh
.PHONY: check-load
check_PROGRAMS += tests/shim/leaky
tests_shim_leaky_LDADD = $(CRYPTO_LIBS)
tests_shim_leaky_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)

# Annotations made by the other providers (a copy of the shared fixtures), so
# a clone or the release tarball runs every test.
EXTRA_DIST += tests/fixtures

# host/err.c linked alone (with host/text.c, its escaping): it must not pull in
# the rest of the host.
check_PROGRAMS += tests/unit/test-err
TESTS += tests/unit/test-err
tests_unit_test_err_SOURCES = tests/unit/test-err.c host/err.c host/text.c
tests_unit_test_err_CFLAGS = $(UNIT_CFLAGS)

# Issue 19: the shared escaping of text others wrote (host/text.c).
check_PROGRAMS += tests/unit/test-text
TESTS += tests/unit/test-text
tests_unit_test_text_LDADD = $(UNIT_LDADD)
tests_unit_test_text_CFLAGS = $(UNIT_CFLAGS)

# Command-line safety (setuid refusal, --config-dir lists).
TESTS += tests/cmdline.sh
EXTRA_DIST += tests/cmdline.sh

# Loader growth and binding tests: the mock built against the version-1
# header (tests/mock/v1, first on the include path), a descriptor larger
# than this host knows, and a module with an unresolved symbol, linked lazily
# (-z lazy after the hardening flags' -z now) as a careless build would be.
check_LTLIBRARIES += tests/mock/ocikp-mock-v1.la tests/mock/ocikp-mock-large.la \
	tests/mock/ocikp-mock-unresolved.la
tests_mock_ocikp_mock_v1_la_SOURCES = tests/mock/ocikp-mock.c tests/mock/ocikp-mock-v1-check.c
tests_mock_ocikp_mock_v1_la_CPPFLAGS = -I$(top_srcdir)/tests/mock/v1 $(AM_CPPFLAGS)
tests_mock_ocikp_mock_v1_la_CFLAGS = $(MODULE_CFLAGS)
tests_mock_ocikp_mock_v1_la_LDFLAGS = $(MOCK_LDFLAGS)
tests_mock_ocikp_mock_large_la_SOURCES = tests/mock/ocikp-mock.c
tests_mock_ocikp_mock_large_la_CFLAGS = $(MODULE_CFLAGS) -DMOCK_SIZE=1024
tests_mock_ocikp_mock_large_la_LDFLAGS = $(MOCK_LDFLAGS)
tests_mock_ocikp_mock_unresolved_la_SOURCES = tests/mock/ocikp-mock-unresolved.c
tests_mock_ocikp_mock_unresolved_la_CFLAGS = $(MODULE_CFLAGS)
tests_mock_ocikp_mock_unresolved_la_LDFLAGS = $(MOCK_LDFLAGS_ANY) \
	-Wl,--unresolved-symbols=ignore-all -Wl,-z,lazy
OCIKP_TEST_MODULES += tests/mock/ocikp-mock-v1.la tests/mock/ocikp-mock-large.la \
	tests/mock/ocikp-mock-unresolved.la
EXTRA_DIST += tests/mock/v1/ocikp/backend.h

# Issue 11, routing: envelope bounds are in tests/envelope.sh; the answer
# writer in tests/faults.sh.
route_tests = tests/inspect.sh tests/deadline.sh
TESTS += $(route_tests)
EXTRA_DIST += $(route_tests)

# Issue 11, host helpers: form encoding (host/form.c).
check_PROGRAMS += tests/unit/test-form
TESTS += tests/unit/test-form
tests_unit_test_form_LDADD = $(UNIT_LDADD)
tests_unit_test_form_CFLAGS = $(UNIT_CFLAGS)

# Issue 11, secrets and caches: host/privfile.c and host/statedir.c.
# test-statedir runs itself again as uid 65534 (setpriv) when root.
secrets_unit_tests = tests/unit/test-privfile tests/unit/test-statedir
check_PROGRAMS += $(secrets_unit_tests)
TESTS += $(secrets_unit_tests)
tests_unit_test_privfile_LDADD = $(UNIT_LDADD)
tests_unit_test_privfile_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_statedir_LDADD = $(UNIT_LDADD)
tests_unit_test_statedir_CFLAGS = $(UNIT_CFLAGS)
# Issue 19, the caller's rights: read_request_file's identity switch
# (host/caller.c), and ocikpd with a hostile local caller.
check_PROGRAMS += tests/unit/test-caller
TESTS += tests/unit/test-caller
tests_unit_test_caller_LDADD = $(UNIT_LDADD) -lpthread
tests_unit_test_caller_CFLAGS = $(UNIT_CFLAGS) -pthread
daemon_tests += tests/daemon/deputy.sh
# A preload that makes OpenSSL allocate before ocikp's main (tests/secrets.sh).
check_LTLIBRARIES += tests/shim/ossl-first.la
tests_shim_ossl_first_la_SOURCES = tests/shim/ossl-first.c
tests_shim_ossl_first_la_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
tests_shim_ossl_first_la_LIBADD = $(CRYPTO_LIBS)
tests_shim_ossl_first_la_LDFLAGS = $(MOCK_LDFLAGS_ANY)
# Secret files through the binary (sample and keychain key files).
secrets_sh_tests = tests/private-files.sh
TESTS += $(secrets_sh_tests)
EXTRA_DIST += $(secrets_sh_tests) tests/shim/ossl-first.c

# `make distcheck` builds, installs and uninstalls the release tarball and
# runs only this smoke subset in it (the ones this configuration builds): the
# whole suite has run on the same sources in `make check`, and a second run
# would only double CI's time.  `make distcheck DISTCHECK_TESTS='$(TESTS)'`
# runs it all.  A target-specific AM_MAKEFLAGS (GNU make) reaches the
# sub-makes distcheck runs in the unpacked tree, their `make check` too.
# One quick test per part: the host, each backend's module, the fakes'
# shared files (http.sh, bad-input.sh), ocikpd.
SMOKE_TESTS = tests/unit/test-b64 tests/unit/test-json tests/unit/test-conf tests/unit/test-loader \
	tests/protocol.sh tests/bad-input.sh tests/loader.sh tests/dropin.sh tests/cmdline.sh \
	tests/tpm/fixtures.sh tests/keychain/ecies.sh tests/gcpkms/secrets.sh tests/kbs/offline.sh \
	tests/awskms/selftest.sh \
	tests/http/http.sh tests/daemon/units.sh tests/vault/vault.sh
DISTCHECK_TESTS = $(filter $(SMOKE_TESTS),$(TESTS))
# (named through a variable: automake would take `distcheck:` for an
# override of its own rule)
distcheck_target = distcheck
$(distcheck_target): AM_MAKEFLAGS += TESTS='$(DISTCHECK_TESTS)'
check-smoke:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(filter $(SMOKE_TESTS),$(TESTS))'
.PHONY: check-smoke

# The tests whose outcome depends on time: deadlines, backoff and
# Retry-After, ocikpd's shutdown under load, the TPM under parallel execs.
# .ci/run runs them beside two CPU burners (a test asserts behaviour, never
# speed: bounds scale by T_SLACK, tests/lib/common.sh).
# (Not the daemon's input matrix and memory load run: neither has a bound
# on time, and together they took a minute beside the burners.)
TIMING_TESTS = $(filter-out tests/daemon/bad-input.sh tests/daemon/load.sh, \
	$(filter tests/daemon/% tests/tpm/% tests/http/% tests/deadline.sh \
	tests/kbs/rcar.sh tests/gcpkms/gcpkms.sh tests/unit/test-statedir,$(TESTS)))
check-timing:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(TIMING_TESTS)'
.PHONY: check-timing
