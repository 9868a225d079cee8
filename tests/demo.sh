#!/usr/bin/env bash
# The main job, end to end on the built-in sample backend (no hardware):
# the real ocicrypt library encrypts a container layer, ocikp wraps its key,
# then ocicrypt decrypts the layer with the key ocikp unwraps.
#
#   tests/demo.sh [BUILD-DIR]      (default: the source tree, built in place)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src}" && pwd)
ocikp="$build/ocikp"
[ -x "$ocikp" ] || { echo "demo: build first (no $ocikp)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

say() { printf '\n== %s\n' "$*"; }

say "a plugin directory and a drop-in with a fresh sample key"
mkdir -m 755 "$tmp/plugins" "$tmp/ocikp.d"
install -m 0755 "$build/plugins/sample/.libs/ocikp-sample.so" "$tmp/plugins/"
"$ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/ocikp.d" sample keygen "$tmp/sample.key"
printf 'sample.key_file = %s\n' "$tmp/sample.key" > "$tmp/ocikp.d/50-sample.conf"
cat "$tmp/ocikp.d/50-sample.conf"
"$ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/ocikp.d" list

say "ocicrypt's key-provider config (OCICRYPT_KEYPROVIDER_CONFIG)"
printf '{"key-providers":{"ocikp":{"cmd":{"path":"%s","args":["--provider=ocikp","--config-dir=%s","--plugin-dir=%s"]}}}}\n' \
	"$ocikp" "$tmp/ocikp.d" "$tmp/plugins" > "$tmp/ocicrypt.json"
python3 -m json.tool "$tmp/ocicrypt.json"
export OCICRYPT_KEYPROVIDER_CONFIG="$tmp/ocicrypt.json"

say "building the Go client against Debian's ocicrypt $(dpkg-query -W -f '${Version}' golang-github-containers-ocicrypt-dev 2>/dev/null || echo '?')"
"$src/tests/go/build.sh" "$tmp/bin"

say "encrypt a 1 MiB layer with --encryption-key provider:ocikp:sample://default, then decrypt it"
"$tmp/bin/ocikp-e2e" -enc ocikp:sample://default -dec ocikp:sample://default -size 1048576 -dump "$tmp/layer"

say "the annotation ocicrypt stored (org.opencontainers.image.enc.keys.provider.ocikp)"
"$ocikp" --plugin-dir="$tmp/plugins" --config-dir="$tmp/ocikp.d" inspect "$tmp/layer/ann.keys.provider.ocikp"
echo
echo "demo: done — the layer key went through ocikp and back, and the layer decrypted byte for byte."
