/*
 * The tpm backend's internal interfaces.  Wire format: SPEC.md §3 tpm
 * (ocicrypt-tpm-keyprovider v1.0.0, go-tpm-tools ImportBlob).
 */
#ifndef OCIKP_TPM_H
#define OCIKP_TPM_H

#include <stdbool.h>
#include <stdint.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tpm2_types.h>
#include "ocikp/backend.h"

#define TPM_KEY_LEN 32		/* the AES-256 key sealed to the TPM */
#define TPM_MAX_PCRS 24

/* go-tpm-tools ImportBlob: the fields as raw bytes. */
struct import_blob {
	struct ocikp_buf duplicate;	/* TPM2B_PRIVATE body: 0020 ‖ HMAC ‖ encSensitive */
	struct ocikp_buf encrypted_seed;	/* RSA: OAEP ciphertext; ECC: TPMS_ECC_POINT */
	struct ocikp_buf public_area;	/* TPMT_PUBLIC, no size prefix */
	uint32_t pcr_hash;		/* TPM alg id of the bank (SHA-256 = 11), 0 if none */
	uint32_t pcr_mask;		/* bit i: PCR i in the policy */
	unsigned char pcr_values[TPM_MAX_PCRS][32];
};

/* ocikp-tpm.c: an annotation's session_key and wrapped_key, decoded, before
 * any TPM command (exposed for the fuzz target) */
int tpm_annotation_parse(struct ocikp_ctx *ctx, const ocikp_json *ann, struct import_blob *blob,
			 struct ocikp_buf *sealed);

/* tpm-blob.c */
int blob_encode(struct ocikp_ctx *ctx, const struct import_blob *b, struct ocikp_buf *out);
int blob_decode(struct ocikp_ctx *ctx, const unsigned char *data, size_t len,
		struct import_blob *b);
void blob_free(struct ocikp_ctx *ctx, struct import_blob *b);

/* tpm-pcr.c: "IDX=hex,..." and the PolicyPCR digest */
int pcrs_parse(struct ocikp_ctx *ctx, const char *text, struct import_blob *b);
int pcr_policy_digest(struct ocikp_ctx *ctx, const struct import_blob *b,
		      unsigned char digest[32]);
void pcr_selection(const struct import_blob *b, TPML_PCR_SELECTION *sel);

/* tpm-dup.c: sealing K to an EK public key, no TPM needed */
int ek_load_public(struct ocikp_ctx *ctx, const unsigned char *pem_or_der, size_t len,
		   void **ek_pkey);
int duplicate_to_ek(struct ocikp_ctx *ctx, void *ek_pkey,
		    const unsigned char key[TPM_KEY_LEN], struct import_blob *b);
void ek_free(void *ek_pkey);

/* tpm-tcti.c: the TCTI from tpm.tcti or tpm.tpm_path, checked, counting
 * TPM commands.  label gets the TCTI as the user knows it, for messages.
 * Its waits end at the deadline of the ctx it is bound to (tcti_open binds
 * the opener's; a kept TCTI is bound to each call's, NULL between calls:
 * then a fixed 5 s). */
int tcti_open(struct ocikp_ctx *ctx, TSS2_TCTI_CONTEXT **tcti, char *label, size_t label_len);
void tcti_bind(TSS2_TCTI_CONTEXT *tcti, struct ocikp_ctx *ctx);
/* Between calls: a transport that serves one client at a time (swtpm,
 * mssim, /dev/tpm0: tcti_exclusive) is closed by tcti_release and opened
 * again, checked again, by tcti_resume, which also binds the call's ctx;
 * a shared one (/dev/tpmrm0, tabrmd) stays open. */
int tcti_resume(struct ocikp_ctx *ctx, TSS2_TCTI_CONTEXT *tcti);
void tcti_release(TSS2_TCTI_CONTEXT *tcti);
bool tcti_exclusive(TSS2_TCTI_CONTEXT *tcti);
unsigned long tcti_commands(TSS2_TCTI_CONTEXT *tcti);
bool tcti_timed_out(TSS2_TCTI_CONTEXT *tcti);	/* a receive ran into the deadline */
void tcti_close(TSS2_TCTI_CONTEXT **tcti);

/* tpm-esys.c: opening a blob on the local TPM.  The connection and the
 * EKs are kept in ctx->backend_data across calls: tpm_state_new (init)
 * only allocates, the first call that needs the TPM connects. */
int tpm_state_new(struct ocikp_ctx *ctx);
void tpm_state_free(struct ocikp_ctx *ctx);
int tpm_unseal(struct ocikp_ctx *ctx, const struct import_blob *b,
	       unsigned char key[TPM_KEY_LEN]);
int tpm_ekpub(struct ocikp_ctx *ctx, bool ecc, struct ocikp_buf *pem);
int tpm_read_pcrs(struct ocikp_ctx *ctx, uint32_t mask, struct ocikp_buf *out);

#endif
