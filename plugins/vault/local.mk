pkglib_LTLIBRARIES += plugins/vault/ocikp-vault.la
vault_sources = plugins/vault/vault.h plugins/vault/vault-opts.c plugins/vault/vault-transit.c \
	plugins/vault/vault-auth.c
plugins_vault_ocikp_vault_la_SOURCES = plugins/vault/ocikp-vault.c $(vault_sources)
plugins_vault_ocikp_vault_la_CFLAGS = $(MODULE_CFLAGS) $(VAULT_CFLAGS) -I$(top_srcdir)/lib
plugins_vault_ocikp_vault_la_LIBADD = lib/libocikphttp.la lib/libocikpcred.la $(VAULT_LIBS)
plugins_vault_ocikp_vault_la_LDFLAGS = $(MODULE_LDFLAGS)
dropin_DATA += plugins/vault/50-vault.conf
EXTRA_DIST += plugins/vault/50-vault.conf
OCIKP_TEST_MODULES += plugins/vault/ocikp-vault.la

# The backend through the ocikp binary against a fake Vault
# (tests/vault/fake_vault.py): Transit, rotation, namespace, token
# sources, errors and their exit codes, secrets never on stderr.
vault_tests = tests/vault/vault.sh tests/vault/login.sh tests/vault/e2e.sh tests/vault/daemon.sh
TESTS += $(vault_tests)
EXTRA_DIST += $(vault_tests) tests/vault/fake_vault.py tests/vault/lib.sh
