#!/usr/bin/env bash
# Build the ocikp-e2e client against Debian's ocicrypt sources, offline, in
# GOPATH mode.  Usage: tests/go/build.sh OUTDIR.  Exit 77 (skip) with the
# reason on stderr when Go or ocicrypt is not installed.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
gocode=/usr/share/gocode
command -v go >/dev/null || { echo "go not installed (golang-go from bookworm-backports)" >&2; exit 77; }
[ -d "$gocode/src/github.com/containers/ocicrypt" ] ||
	{ echo "ocicrypt sources not installed (golang-github-containers-ocicrypt-dev from bookworm-backports)" >&2; exit 77; }
mkdir -p "$out"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
# GOPATH mode: the client's own tree first, then Debian's packaged sources.
GO111MODULE=off GOPATH="$here:$gocode" GOCACHE="$cache" GOPROXY=off GOFLAGS='' GOTOOLCHAIN=local \
	go build -o "$out/ocikp-e2e" ocikp-e2e
