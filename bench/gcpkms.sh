#!/usr/bin/env bash
# The gcpkms figures of bench/kms.sh (one script for the network backends):
#   bench/gcpkms.sh [BUILD-DIR] [RUNS]
exec "$(dirname "$0")/kms.sh" gcpkms "$@"
