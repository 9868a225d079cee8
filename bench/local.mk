EXTRA_DIST += bench/kms.sh bench/gcpkms.sh bench/exec.sh bench/trivial.c bench/spawn.c bench/openssl-gcm.c bench/tpm-unwrap.sh \
	bench/ocikpd.sh bench/go/src/ocikp-bench/main.go bench/pkcs11.sh
