#!/bin/bash
# vault through ocikpd: the login token kept in memory while the module
# stays loaded.
#   10 unwraps through one ocikpd with an AppRole login: one login;
#   the cache file removed: 5 more unwraps, still one login (memory);
#   the login token revoked: the next unwrap logs in again once;
#   the daemon stops cleanly (fini wipes the token).
# Behaviour only: no timing is asserted.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/vault/lib.sh"
. "$top_srcdir/tests/daemon/lib.sh"
set -u

t_setup
vault_setup
vault_isolate
d_built_or_skip 5
KEY=vault://transit/keys/k1
OPTS='{"symkey":"ZGFlbW9uLWxheWVyLWtleQ==","cipheroptions":{}}'
(umask 077
 printf '%s\n' "$ROLE_ID" > "$T_TMP/role-id"
 printf '%s\n' "$SECRET_ID" > "$T_TMP/secret-id")
vault_dropin "$C" "vault.approle_role_id_file = $T_TMP/role-id" \
	"vault.approle_secret_id_file = $T_TMP/secret-id"

ANN=$(VAULT_TOKEN=$TOK_ALL t_wrap "$OPTS" "$KEY")
[ -n "$ANN" ] || { t_ok 1 "wrap by exec"; t_diag "$T_ERR"; t_done; exit 1; }
d_req "$T_TMP/unwrap.json" "$(t_unwrap_request ocikp "$ANN" "$KEY")"
unwraps() { d_unwraps "$1" "$T_TMP/unwrap.json" "$OPTS"; }

d_start || { t_ok 1 "ocikpd starts"; t_done; exit 1; }
unwraps 10
R=$?
[ $R -eq 0 ] && [ "$(vault_stat login_approle)" -eq 1 ] && [ "$(vault_stat decrypt)" -eq 10 ]
t_ok $? "10 unwraps through one ocikpd: one AppRole login ($(vault_stat login_approle))"

vault_cache_drop
unwraps 5
R=$?
[ $R -eq 0 ] && [ "$(vault_stat login_approle)" -eq 1 ] && [ -z "$(vault_cache_mine)" ]
t_ok $? "the cache file gone: 5 more unwraps on the token in memory, no login"

vault_ctl /_revoke > /dev/null
unwraps 1
R=$?
[ $R -eq 0 ] && [ "$(vault_stat login_approle)" -eq 2 ]
t_ok $? "the token revoked: one new login in the daemon, the unwrap succeeds"
unwraps 3
R=$?
[ $R -eq 0 ] && [ "$(vault_stat login_approle)" -eq 2 ]
t_ok $? "... and the new token serves the next calls"

d_stop
t_ok $? "ocikpd stops with exit 0"
t_done
