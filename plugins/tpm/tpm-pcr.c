/*
 * PCR policy: the "pcrs=" text ("IDX=hex,IDX=hex", SHA-256 bank) and the
 * TPM2_PolicyPCR digest a trial session would compute:
 *
 *   SHA-256(0^32 ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ SHA-256(PCR values, ascending))
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>
#include "tpm.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int pcrs_parse(struct ocikp_ctx *ctx, const char *text, struct import_blob *b)
{
	const char *p = text;

	while (*p) {
		char *end;
		long index = strtol(p, &end, 10);
		size_t i;

		if (end == p || *end != '=' || index < 0) {
			ocikp_errorf(ctx, "pcrs: expected IDX=hex[,IDX=hex...]");
			return OCIKP_BAD_INPUT;
		}
		if (index >= TPM_MAX_PCRS) {
			ocikp_errorf(ctx, "pcrs: PCR index %ld out of range (0-23)", index);
			return OCIKP_BAD_INPUT;
		}
		if (b->pcr_mask & (1u << index)) {
			ocikp_errorf(ctx, "pcrs: PCR %ld given twice", index);
			return OCIKP_BAD_INPUT;
		}
		p = end + 1;
		for (i = 0; p[i] && p[i] != ','; i++)
			if (hexval(p[i]) < 0) {
				ocikp_errorf(ctx, "pcrs: PCR %ld: not hex", index);
				return OCIKP_BAD_INPUT;
			}
		if (i != 64) {
			ocikp_errorf(ctx, "pcrs: PCR %ld: %zu hex digits, SHA-256 needs 64", index, i);
			return OCIKP_BAD_INPUT;
		}
		for (i = 0; i < 32; i++)
			b->pcr_values[index][i] = (unsigned char)(hexval(p[2 * i]) << 4 | hexval(p[2 * i + 1]));
		b->pcr_mask |= 1u << index;
		p += 64;
		if (*p == ',')
			p++;
	}
	if (!b->pcr_mask) {
		ocikp_errorf(ctx, "pcrs: empty");
		return OCIKP_BAD_INPUT;
	}
	b->pcr_hash = TPM2_ALG_SHA256;
	return OCIKP_OK;
}

void pcr_selection(const struct import_blob *b, TPML_PCR_SELECTION *sel)
{
	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = 3;
	sel->pcrSelections[0].pcrSelect[0] = (BYTE)(b->pcr_mask & 0xff);
	sel->pcrSelections[0].pcrSelect[1] = (BYTE)(b->pcr_mask >> 8 & 0xff);
	sel->pcrSelections[0].pcrSelect[2] = (BYTE)(b->pcr_mask >> 16 & 0xff);
}

int pcr_policy_digest(struct ocikp_ctx *ctx, const struct import_blob *b,
		      unsigned char digest[32])
{
	unsigned char values_digest[32], msg[32 + 4 + sizeof(TPML_PCR_SELECTION) + 32];
	TPML_PCR_SELECTION sel;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t off = 32;
	int i, ok;

	pcr_selection(b, &sel);
	memset(msg, 0, 32);
	ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (i = 0; ok && i < TPM_MAX_PCRS; i++)
		if (b->pcr_mask & (1u << i))
			ok = EVP_DigestUpdate(md, b->pcr_values[i], 32);
	ok = ok && EVP_DigestFinal_ex(md, values_digest, NULL) &&
	     Tss2_MU_UINT32_Marshal(TPM2_CC_PolicyPCR, msg, sizeof(msg), &off) == 0 &&
	     Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, msg, sizeof(msg), &off) == 0;
	if (ok) {
		memcpy(msg + off, values_digest, 32);
		off += 32;
		ok = EVP_Digest(msg, off, digest, NULL, EVP_sha256(), NULL);
	}
	EVP_MD_CTX_free(md);
	if (!ok) {
		ocikp_errorf(ctx, "PCR policy digest failed");
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}
