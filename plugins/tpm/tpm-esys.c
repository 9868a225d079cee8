/*
 * Opening an ImportBlob on the local TPM (SPEC.md §3 tpm):
 *
 *   EK (persistent 0x81010001 RSA / 0x81010016 ECC if it matches the TCG
 *   template, else CreatePrimary) → PolicySecret(endorsement) → Import
 *   → PolicySecret again → Load → Unseal (PolicyPCR, or empty auth)
 *
 * The commands go through SAPI on the SYS context of an ESAPI one (ESAPI
 * is left the connection and PCR_Read): tpm2-tss 3.2's ESAPI builds a new
 * OpenSSL library context for every nonce and hash (see sess_auth).
 * Sessions, the imported object and the unsealed data live for one call,
 * flushed and cleansed on every path: a TPM has only a few slots, and a
 * leak would break the next exec.  The connection and the EKs' handles
 * are kept in ctx->backend_data (struct tpm): an exec makes one call,
 * ocikpd many, and these are what a call would otherwise spend on the
 * TCTI connect, ReadPublic, or CreatePrimary (see tpm_leave for what a TPM
 * serving one client at a time keeps).  The host serializes calls into
 * this backend (no OCIKP_BACKEND_CONCURRENT), so no lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include "tpm.h"

#define EK_RSA_HANDLE 0x81010001
#define EK_ECC_HANDLE 0x81010016

/* What ctx->backend_data points at, for the life of a configuration
 * (tpm.tcti cannot change within it).  esys NULL: not connected. */
struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	char label[512];
	TPM2_HANDLE ek[2];	/* [ecc]: the EK's TPM handle, 0 until a call needs it */
	bool ek_transient[2];
	bool busy;	/* the last failure was the TPM being busy or full */
	bool broken;	/* ... left the connection in an unknown state: drop it */
	bool gone;	/* ... says the TPM went away or was reset: reconnect, retry */
	TSS2_RC last_rc;	/* that failure, for the debug line */
};

/* A TPM without a resource manager (swtpm, /dev/tpm0) has three session
 * and three object slots for all its clients: parallel execs run out of
 * them.  Retry the whole sequence, everything flushed, for about 3 s. */
#define BUSY_ATTEMPTS 40

/* The TPM error without its layer, so it compares with TPM2_RC_* values. */
static TSS2_RC rc_base(TSS2_RC rc)
{
	rc &= 0xFFFF;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3F);
	return rc;
}

static bool rc_busy(TSS2_RC rc)
{
	TSS2_RC b = rc_base(rc);

	return b == TPM2_RC_RETRY || b == TPM2_RC_YIELDED || b == TPM2_RC_TESTING ||
	       b == TPM2_RC_OBJECT_MEMORY || b == TPM2_RC_SESSION_MEMORY ||
	       b == TPM2_RC_MEMORY || b == TPM2_RC_OBJECT_HANDLES || b == TPM2_RC_SESSION_HANDLES;
}

/* The TPM did not start the command (RETRY, YIELDED, TESTING): send it
 * again at once, a few times, as ESAPI did for us; SAPI leaves it to the
 * caller.  Nothing ran, so a policy session is as it was. */
static bool rc_again(TSS2_RC rc)
{
	TSS2_RC b = rc_base(rc);

	return b == TPM2_RC_RETRY || b == TPM2_RC_YIELDED || b == TPM2_RC_TESTING;
}
#define SYS_TRIES 5
#define SYS_CALL(rc, call)                                                    \
	do {                                                                  \
		int tries_ = 0;                                               \
		do                                                            \
			(rc) = (call);                                        \
		while (rc_again(rc) && ++tries_ < SYS_TRIES);                 \
	} while (0)

/* Note what a failed command says about the connection.  An answer from
 * the TPM leaves it usable, unless the answer is that the TPM was reset
 * (INITIALIZE) or that a handle we kept is not loaded (HANDLE, REFERENCE:
 * our EK, flushed by someone or lost in a restart).  Anything else (the
 * socket closed, a malformed or missing response) leaves it in an unknown
 * state.  A wait cut short by the deadline is not worth a retry. */
static void classify(struct tpm *t, TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, b = rc_base(rc);

	if (rc == TSS2_RC_SUCCESS)
		return;
	t->last_rc = rc;
	if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER) {
		if (b == TPM2_RC_INITIALIZE || b == TPM2_RC_HANDLE ||
		    (b >= TPM2_RC_REFERENCE_H0 && b <= TPM2_RC_REFERENCE_H6))
			t->broken = t->gone = true;
		return;
	}
	t->broken = true;
	t->gone = !tcti_timed_out(t->tcti);
}

/* A failure of a TPM command: busy is retryable, the rest says what failed. */
static int tpm_fail(struct ocikp_ctx *ctx, struct tpm *t, const char *what, TSS2_RC rc, int status)
{
	classify(t, rc);
	if (tcti_timed_out(t->tcti)) {
		t->busy = false;
		ocikp_errorf(ctx, "no answer from the TPM at '%s' during %s within the time budget "
			     "(drop-in 'timeout')", t->label, what);
		return OCIKP_UNAVAILABLE;
	}
	t->busy = rc_busy(rc);
	if (t->busy) {
		ocikp_errorf(ctx, "TPM busy during %s (%s); retry", what, Tss2_RC_Decode(rc));
		return OCIKP_UNAVAILABLE;
	}
	ocikp_errorf(ctx, "%s failed: %s", what, Tss2_RC_Decode(rc));
	return status;
}

/* The SYS context under ESAPI's: the backend's commands go through it
 * (see sess_auth for why). */
static TSS2_SYS_CONTEXT *sys_of(struct tpm *t)
{
	TSS2_SYS_CONTEXT *sys = NULL;

	return t->esys && Esys_GetSysContext(t->esys, &sys) == TSS2_RC_SUCCESS ? sys : NULL;
}

int tpm_state_new(struct ocikp_ctx *ctx)
{
	struct tpm *t = calloc(1, sizeof(*t));

	if (!t) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	ctx->backend_data = t;
	return OCIKP_OK;
}

/* Forget the connection.  flush_ek: flush transient EKs first; without,
 * only when there is no connection left to send it on. */
static void tpm_drop(struct tpm *t, bool flush_ek)
{
	int i;

	for (i = 0; i < 2 && t->esys; i++)
		if (t->ek[i] && t->ek_transient[i] && flush_ek)
			Tss2_Sys_FlushContext(sys_of(t), t->ek[i]);
	t->ek[0] = t->ek[1] = 0;
	t->ek_transient[0] = t->ek_transient[1] = false;
	if (t->esys)
		Esys_Finalize(&t->esys);
	tcti_close(&t->tcti);
	t->label[0] = '\0';
}

void tpm_state_free(struct ocikp_ctx *ctx)
{
	struct tpm *t = ctx->backend_data;

	if (!t)
		return;
	/* fini: no request's deadline, a fixed bound; a released transport
	 * holds no transient EK, nothing to send */
	tcti_bind(t->tcti, NULL);
	tpm_drop(t, true);
	free(t);
}

/* The kept connection, or a new one; *reused says which.  The TCTI waits
 * until this call's deadline. */
static int tpm_open(struct ocikp_ctx *ctx, struct tpm *t, bool *reused)
{
	TSS2_RC rc;
	int st;

	t->busy = t->broken = t->gone = false;
	if (reused)
		*reused = t->esys != NULL;
	if (t->esys) {
		st = tcti_resume(ctx, t->tcti);
		if (st != OCIKP_OK)
			tpm_drop(t, false);
		return st;
	}
	st = tcti_open(ctx, &t->tcti, t->label, sizeof(t->label));
	if (st != OCIKP_OK)
		return st;
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		ocikp_errorf(ctx, "no TPM at TCTI '%s': %s", t->label, Tss2_RC_Decode(rc));
		t->esys = NULL;
		tcti_close(&t->tcti);
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

/* The end of a call: keep the connection unless the call left it in doubt
 * or the TPM was busy (everything flushed: the other clients need the
 * slots), and
 * unbind it from this call's ctx, which the host frees.  A transport that
 * serves one client at a time is closed until the next call, so other
 * clients get their turn; a transient EK is not left behind in such a TPM
 * (three object slots for everyone, and any client may flush it), only
 * the handle of a persistent one, which costs the TPM nothing. */
static void tpm_leave(struct tpm *t)
{
	int i;

	/* a transient EK is flushed even then, as it always was: on a dead
	 * socket or a reset TPM that fails at once */
	if (t->broken || t->busy)
		tpm_drop(t, true);
	for (i = 0; i < 2 && t->esys && tcti_exclusive(t->tcti); i++)
		if (t->ek[i] && t->ek_transient[i]) {
			Tss2_Sys_FlushContext(sys_of(t), t->ek[i]);
			t->ek[i] = 0;
			t->ek_transient[i] = false;
		}
	tcti_release(t->tcti);
}

/* The commands of an unwrap go through SAPI on ESAPI's own SYS context.
 * tpm2-tss 3.2's ESAPI makes a new OpenSSL library context for every
 * nonce and every cpHash/rpHash it computes (esys_crypto_ossl.c:
 * OSSL_LIB_CTX_new, then a fresh name map, method store and DRBG seeded
 * from the OS), about 60 M instructions an unwrap, in ocikpd on every
 * call; it has no crypto callbacks to avoid that.  An unwrap needs none
 * of it: its policy sessions are unsalted and unbound, with no
 * PolicyAuthValue, so the TPM checks no HMAC on the commands and any
 * response HMAC would be keyed by nothing secret.  A nonce of our own
 * (the process's DRBG) is all a command's session needs. */
struct sess {
	TSS2L_SYS_AUTH_COMMAND cmd;
	TSS2L_SYS_AUTH_RESPONSE rsp;
};

/* A session nonce is not secret: the kernel's generator, not OpenSSL's
 * DRBG, whose first use (its instantiation) costs an exec unwrap ~9 M
 * instructions it would need for nothing else. */
static int nonce(struct ocikp_ctx *ctx, TPM2B_NONCE *n)
{
	n->size = 32;
	if (getrandom(n->buffer, n->size, 0) != (ssize_t)n->size) {
		ocikp_errorf(ctx, "no randomness for a session nonce: %s", strerror(errno));
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

/* The authorization area for one policy session (handle) or the empty
 * password (TPM2_RS_PW).  A policy session is used once: continueSession
 * clear, the TPM flushes it after the command, no FlushContext for it. */
static int sess_auth(struct ocikp_ctx *ctx, struct sess *a, TPMI_SH_AUTH_SESSION handle)
{
	memset(a, 0, sizeof(*a));
	a->cmd.count = 1;
	a->cmd.auths[0].sessionHandle = handle;
	if (handle == TPM2_RS_PW)
		return OCIKP_OK;
	return nonce(ctx, &a->cmd.auths[0].nonce);
}

static void flush(struct tpm *t, TPM2_HANDLE *h)
{
	TSS2_SYS_CONTEXT *sys = sys_of(t);

	if (*h != TPM2_RH_NULL && sys)
		Tss2_Sys_FlushContext(sys, *h);
	*h = TPM2_RH_NULL;
}

/* A policy session for SHA-256 policies: unsalted, unbound, no parameter
 * encryption. */
static int policy_session(struct ocikp_ctx *ctx, struct tpm *t, TPM2_HANDLE *session)
{
	TPM2B_NONCE caller, tpm_nonce = { .size = 0 };
	TPM2B_ENCRYPTED_SECRET salt = { .size = 0 };
	TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
	TSS2_RC rc;

	*session = TPM2_RH_NULL;
	if (nonce(ctx, &caller) != OCIKP_OK)
		return OCIKP_INTERNAL;
	SYS_CALL(rc, Tss2_Sys_StartAuthSession(sys_of(t), TPM2_RH_NULL, TPM2_RH_NULL, NULL,
					       &caller, &salt, TPM2_SE_POLICY, &sym,
					       TPM2_ALG_SHA256, session, &tpm_nonce, NULL));
	if (rc != TSS2_RC_SUCCESS) {
		*session = TPM2_RH_NULL;
		return tpm_fail(ctx, t, "starting a policy session", rc, OCIKP_UNAVAILABLE);
	}
	return OCIKP_OK;
}

/* The TCG EK Credential Profile default templates (L-1 RSA 2048, L-2 P-256). */
static void ek_template(bool ecc, TPM2B_PUBLIC *tpl)
{
	static const unsigned char policy[32] = {
		0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
		0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa
	};
	TPMT_PUBLIC *p = &tpl->publicArea;

	memset(tpl, 0, sizeof(*tpl));
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	p->authPolicy.size = 32;
	memcpy(p->authPolicy.buffer, policy, 32);
	if (ecc) {
		p->type = TPM2_ALG_ECC;
		p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.eccDetail.symmetric.keyBits.aes = 128;
		p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
		p->unique.ecc.x.size = 32;
		p->unique.ecc.y.size = 32;
	} else {
		p->type = TPM2_ALG_RSA;
		p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
		p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
		p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
		p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p->parameters.rsaDetail.keyBits = 2048;
		p->unique.rsa.size = 256;
	}
}

/* Does a persistent key have the template's shape (all but unique)? */
static bool matches_template(const TPMT_PUBLIC *have, const TPMT_PUBLIC *want)
{
	return have->type == want->type && have->nameAlg == want->nameAlg &&
	       have->objectAttributes == want->objectAttributes &&
	       have->authPolicy.size == want->authPolicy.size &&
	       !memcmp(have->authPolicy.buffer, want->authPolicy.buffer, want->authPolicy.size) &&
	       (have->type == TPM2_ALG_RSA
		? have->parameters.rsaDetail.keyBits == 2048 &&
		  have->parameters.rsaDetail.symmetric.algorithm == TPM2_ALG_AES
		: have->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 &&
		  have->parameters.eccDetail.symmetric.algorithm == TPM2_ALG_AES);
}

/* CreatePrimary under the endorsement hierarchy's empty password, through
 * SAPI: ESAPI would hash the new key's name in an OpenSSL library context
 * of its own (see sess_auth). *out: the new key's public area. */
static TSS2_RC create_ek(struct ocikp_ctx *ctx, struct tpm *t, const TPM2B_PUBLIC *tpl,
			 TPM2_HANDLE *handle, TPM2B_PUBLIC *out)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_DATA outside = { .size = 0 };
	TPML_PCR_SELECTION none = { .count = 0 };
	TPM2B_CREATION_DATA creation = { .size = 0 };
	TPM2B_DIGEST creation_hash = { .size = 0 };
	TPMT_TK_CREATION ticket;
	TPM2B_NAME name = { .size = 0 };
	struct sess pw;
	TSS2_RC rc;

	memset(&sens, 0, sizeof(sens));
	memset(out, 0, sizeof(*out));
	sess_auth(ctx, &pw, TPM2_RS_PW);
	SYS_CALL(rc, Tss2_Sys_CreatePrimary(sys_of(t), TPM2_RH_ENDORSEMENT, &pw.cmd, &sens, tpl,
					    &outside, &none, handle, out, &creation, &creation_hash,
					    &ticket, &name, &pw.rsp));
	return rc;
}

static TSS2_RC read_public(struct tpm *t, TPM2_HANDLE h, TPM2B_PUBLIC *pub)
{
	TPM2B_NAME name = { .size = 0 }, qualified = { .size = 0 };
	TSS2_RC rc;

	memset(pub, 0, sizeof(*pub));
	SYS_CALL(rc, Tss2_Sys_ReadPublic(sys_of(t), h, NULL, pub, &name, &qualified, NULL));
	return rc;
}

/* The EK: the one found or made by an earlier call on this connection, the
 * persistent one if it matches the template, else a new primary.  pub_out
 * (for ekpub) costs a ReadPublic of a kept EK.  Through SAPI: one
 * ReadPublic checks the persistent EK (ESAPI's TR_FromTPMPublic and
 * ReadPublic sent two), and no ESAPI object is made for it. */
static int ek_get(struct ocikp_ctx *ctx, struct tpm *t, bool ecc, TPM2B_PUBLIC *pub_out)
{
	TPM2B_PUBLIC tpl, pub;
	TPM2_HANDLE handle = ecc ? EK_ECC_HANDLE : EK_RSA_HANDLE;
	TSS2_RC rc;

	if (t->ek[ecc]) {
		if (!pub_out)
			return OCIKP_OK;
		rc = read_public(t, t->ek[ecc], pub_out);
		if (rc != TSS2_RC_SUCCESS)
			return tpm_fail(ctx, t, "reading the endorsement key", rc, OCIKP_UNAVAILABLE);
		return OCIKP_OK;
	}
	ek_template(ecc, &tpl);
	/* no such handle, or not the template's key: make one (a dead
	 * connection fails CreatePrimary too, and says so there) */
	if (read_public(t, handle, &pub) == TSS2_RC_SUCCESS &&
	    matches_template(&pub.publicArea, &tpl.publicArea)) {
		t->ek[ecc] = handle;
		t->ek_transient[ecc] = false;
		if (pub_out)
			*pub_out = pub;
		return OCIKP_OK;
	}
	rc = create_ek(ctx, t, &tpl, &handle, &pub);
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(ctx, t, "creating the endorsement key", rc, OCIKP_UNAVAILABLE);
	t->ek[ecc] = handle;
	t->ek_transient[ecc] = true;
	if (pub_out)
		*pub_out = pub;
	return OCIKP_OK;
}

/* A policy session satisfied by the endorsement hierarchy's (empty) auth,
 * which is what the EK's authPolicy demands. */
static int ek_session(struct ocikp_ctx *ctx, struct tpm *t, TPM2_HANDLE *session)
{
	struct sess pw;
	TPM2B_NONCE none = { .size = 0 };
	TPM2B_DIGEST no_cp = { .size = 0 };
	TPM2B_TIMEOUT timeout;
	TPMT_TK_AUTH ticket;
	TSS2_RC rc;
	int st = policy_session(ctx, t, session);

	if (st != OCIKP_OK)
		return st;
	sess_auth(ctx, &pw, TPM2_RS_PW);
	SYS_CALL(rc, Tss2_Sys_PolicySecret(sys_of(t), TPM2_RH_ENDORSEMENT, *session, &pw.cmd,
					   &none, &no_cp, &none, 0, &timeout, &ticket, &pw.rsp));
	if (rc != TSS2_RC_SUCCESS)
		return tpm_fail(ctx, t, "PolicySecret(endorsement)", rc, OCIKP_UNAVAILABLE);
	return OCIKP_OK;
}

static bool read_pcr(struct tpm *t, unsigned index, unsigned char value[32])
{
	TPML_PCR_SELECTION sel, *sel_out = NULL;
	TPML_DIGEST *values = NULL;
	struct import_blob one = { .pcr_mask = 1u << index };
	bool ok;

	TSS2_RC rc;

	pcr_selection(&one, &sel);
	rc = Esys_PCR_Read(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL,
			   &sel_out, &values);
	classify(t, rc);
	ok = rc == TSS2_RC_SUCCESS && values->count == 1 && values->digests[0].size == 32;
	if (ok)
		memcpy(value, values->digests[0].buffer, 32);
	Esys_Free(sel_out);
	Esys_Free(values);
	return ok;
}

/* Name the PCRs whose current value is not the one in the policy. */
static int pcr_mismatch(struct ocikp_ctx *ctx, struct tpm *t, const struct import_blob *b)
{
	char which[128] = "";
	size_t off = 0;
	unsigned i;
	unsigned char now[32];

	for (i = 0; i < TPM_MAX_PCRS; i++)
		if ((b->pcr_mask & (1u << i)) &&
		    (!read_pcr(t, i, now) || memcmp(now, b->pcr_values[i], 32) != 0))
			off += (size_t)snprintf(which + off, sizeof(which) - off, "%s%u",
						off ? ", " : "", i);
	ocikp_errorf(ctx, "PCR values differ from the policy (PCR %s)", off ? which : "?");
	return OCIKP_WRONG_KEY;
}

/* The unsealed key is also in the response buffer ESAPI keeps with the
 * connection, which now outlives the call: wipe it there. */
static void wipe_response(struct tpm *t)
{
	TSS2_SYS_CONTEXT *sys = NULL;
	const uint8_t *rp = NULL;
	size_t n = 0;

	if (Esys_GetSysContext(t->esys, &sys) == TSS2_RC_SUCCESS && sys &&
	    Tss2_Sys_GetRpBuffer(sys, &n, &rp) == TSS2_RC_SUCCESS && rp)
		OPENSSL_cleanse((void *)(uintptr_t)rp, n);
}

/* TPM2_Import of the blob under the EK (PolicySecret session): the
 * TPM's refusal is a wrong key; no answer, a reset or a lost EK handle
 * is not. */
static int import_blob(struct ocikp_ctx *ctx, struct tpm *t, TPM2_HANDLE ek,
		       const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *duplicate,
		       const TPM2B_ENCRYPTED_SECRET *seed, TPM2B_PRIVATE *imported)
{
	TPM2B_DATA no_key = { .size = 0 };
	TPMT_SYM_DEF_OBJECT no_sym = { .algorithm = TPM2_ALG_NULL };
	TPM2_HANDLE session;
	struct sess a;
	TSS2_RC rc;
	int st = ek_session(ctx, t, &session);

	if (st == OCIKP_OK)
		st = sess_auth(ctx, &a, session);
	if (st != OCIKP_OK) {
		flush(t, &session);
		return st;
	}
	SYS_CALL(rc, Tss2_Sys_Import(sys_of(t), ek, &a.cmd, &no_key, pub, duplicate, seed,
				     &no_sym, imported, &a.rsp));
	if (rc == TSS2_RC_SUCCESS)
		return OCIKP_OK;	/* the session is used up: the TPM flushed it */
	flush(t, &session);
	classify(t, rc);
	if (rc_busy(rc) || t->broken)
		return tpm_fail(ctx, t, "TPM2_Import", rc, OCIKP_UNAVAILABLE);
	ocikp_errorf(ctx, "sealed to a different TPM (TPM2_Import: %s)", Tss2_RC_Decode(rc));
	return OCIKP_WRONG_KEY;
}

static int load_object(struct ocikp_ctx *ctx, struct tpm *t, TPM2_HANDLE ek,
		       const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *imported, TPM2_HANDLE *object)
{
	TPM2B_NAME name = { .size = 0 };
	TPM2_HANDLE session;
	struct sess a;
	TSS2_RC rc;
	int st = ek_session(ctx, t, &session);

	*object = TPM2_RH_NULL;
	if (st == OCIKP_OK)
		st = sess_auth(ctx, &a, session);
	if (st != OCIKP_OK) {
		flush(t, &session);
		return st;
	}
	SYS_CALL(rc, Tss2_Sys_Load(sys_of(t), ek, &a.cmd, imported, pub, object, &name, &a.rsp));
	if (rc == TSS2_RC_SUCCESS)
		return OCIKP_OK;
	*object = TPM2_RH_NULL;
	flush(t, &session);
	return tpm_fail(ctx, t, "TPM2_Load", rc, OCIKP_WRONG_KEY);
}

/* TPM2_Unseal, under a PolicyPCR session if the blob names PCRs, else the
 * object's empty auth.  The key is also in SAPI's response buffer, which
 * lives with the kept connection: wiped there. */
static int unseal_object(struct ocikp_ctx *ctx, struct tpm *t, const struct import_blob *b,
			 TPM2_HANDLE object, unsigned char key[TPM_KEY_LEN])
{
	TPM2B_SENSITIVE_DATA data = { .size = 0 };
	TPM2B_DIGEST current = { .size = 0 };	/* the TPM uses its PCRs */
	TPML_PCR_SELECTION sel;
	TPM2_HANDLE session = TPM2_RH_NULL;
	struct sess a;
	TSS2_RC rc = TSS2_RC_SUCCESS;
	int st = OCIKP_OK;

	if (b->pcr_mask) {
		pcr_selection(b, &sel);
		st = policy_session(ctx, t, &session);
		if (st == OCIKP_OK) {
			SYS_CALL(rc, Tss2_Sys_PolicyPCR(sys_of(t), session, NULL, &current, &sel,
							NULL));
			if (rc != TSS2_RC_SUCCESS)
				st = tpm_fail(ctx, t, "TPM2_PolicyPCR", rc, OCIKP_UNAVAILABLE);
		}
	}
	if (st == OCIKP_OK)
		st = sess_auth(ctx, &a, b->pcr_mask ? session : TPM2_RS_PW);
	if (st == OCIKP_OK) {
		SYS_CALL(rc, Tss2_Sys_Unseal(sys_of(t), object, &a.cmd, &data, &a.rsp));
		if (rc == TSS2_RC_SUCCESS) {
			session = TPM2_RH_NULL;
			wipe_response(t);
		} else {
			st = rc_base(rc) == TPM2_RC_POLICY_FAIL ? pcr_mismatch(ctx, t, b)
							      : tpm_fail(ctx, t, "TPM2_Unseal", rc,
									 OCIKP_WRONG_KEY);
		}
	}
	if (st == OCIKP_OK && data.size != TPM_KEY_LEN) {
		ocikp_errorf(ctx, "sealed data is %u bytes, expected %d", data.size, TPM_KEY_LEN);
		st = OCIKP_BAD_INPUT;
	}
	if (st == OCIKP_OK)
		memcpy(key, data.buffer, TPM_KEY_LEN);
	OPENSSL_cleanse(&data, sizeof(data));
	flush(t, &session);
	return st;
}

/* One try, on the kept connection (*reused) or a new one; the TPM commands
 * it sent are added to *commands, and the TCTI it used is copied to label
 * for the debug line. */
static int unseal_once(struct ocikp_ctx *ctx, struct tpm *t, const struct import_blob *b,
		       unsigned char key[TPM_KEY_LEN], bool *reused, unsigned long *commands,
		       char label[512])
{
	unsigned long before;
	TPM2_HANDLE object = TPM2_RH_NULL;
	TPM2B_PUBLIC object_public;
	TPM2B_PRIVATE duplicate, imported = { .size = 0 };
	TPM2B_ENCRYPTED_SECRET seed;
	size_t off = 0;
	bool ecc = b->encrypted_seed.len == 68;	/* TPMS_ECC_POINT of P-256; RSA: 256 */
	int st;

	memset(&object_public, 0, sizeof(object_public));
	if (Tss2_MU_TPMT_PUBLIC_Unmarshal(b->public_area.data, b->public_area.len, &off,
					  &object_public.publicArea) != TSS2_RC_SUCCESS ||
	    off != b->public_area.len || object_public.publicArea.type != TPM2_ALG_KEYEDHASH) {
		ocikp_errorf(ctx, "session_key: public_area is not a sealed-data TPMT_PUBLIC");
		return OCIKP_BAD_INPUT;
	}
	if (b->duplicate.len > sizeof(duplicate.buffer) || b->encrypted_seed.len > sizeof(seed.secret) ||
	    (!ecc && b->encrypted_seed.len != 256)) {
		ocikp_errorf(ctx, "session_key: duplicate or encrypted_seed has a wrong size");
		return OCIKP_BAD_INPUT;
	}
	duplicate.size = (UINT16)b->duplicate.len;
	memcpy(duplicate.buffer, b->duplicate.data, b->duplicate.len);
	seed.size = (UINT16)b->encrypted_seed.len;
	memcpy(seed.secret, b->encrypted_seed.data, b->encrypted_seed.len);

	st = tpm_open(ctx, t, reused);
	memcpy(label, t->label, sizeof(t->label));
	if (st != OCIKP_OK)
		return st;
	before = tcti_commands(t->tcti);
	st = ek_get(ctx, t, ecc, NULL);
	if (st == OCIKP_OK)
		st = import_blob(ctx, t, t->ek[ecc], &object_public, &duplicate, &seed, &imported);
	if (st == OCIKP_OK)
		st = load_object(ctx, t, t->ek[ecc], &object_public, &imported, &object);
	if (st == OCIKP_OK)
		st = unseal_object(ctx, t, b, object, key);
	flush(t, &object);
	*commands += tcti_commands(t->tcti) - before;
	OPENSSL_cleanse(&duplicate, sizeof(duplicate));
	OPENSSL_cleanse(&imported, sizeof(imported));
	return st;
}

int tpm_unseal(struct ocikp_ctx *ctx, const struct import_blob *b, unsigned char key[TPM_KEY_LEN])
{
	struct tpm *t = ctx->backend_data;
	struct timespec pause;
	unsigned char jitter;
	bool busy, reused = false, kept = false, reconnected = false;
	unsigned long commands = 0;
	char label[512] = "";
	int attempt, st = OCIKP_INTERNAL;

	if (!t) {
		ocikp_errorf(ctx, "backend not initialized");
		return OCIKP_INTERNAL;
	}
	for (attempt = 1; attempt <= BUSY_ATTEMPTS; attempt++) {
		reused = false;
		st = unseal_once(ctx, t, b, key, &reused, &commands, label);
		if (attempt == 1)
			kept = reused;
		busy = t->busy;
		/* A kept connection the TPM no longer knows (restarted, reset,
		 * our EK flushed): once more on a new one, no pause.  Never for
		 * a wrong key or PCR mismatch: the TPM answered those. */
		if (st != OCIKP_OK && t->gone && reused && !reconnected) {
			ocikp_debugf(ctx, "unwrap: the TPM at '%s' went away or was reset (%s); "
				     "reconnecting, once", label, Tss2_RC_Decode(t->last_rc));
			tpm_leave(t);
			ocikp_error_clear(ctx);
			reconnected = true;
			continue;
		}
		tpm_leave(t);
		if (st != OCIKP_UNAVAILABLE || !busy || attempt == BUSY_ATTEMPTS)
			break;
		ocikp_debugf(ctx, "unwrap: attempt %d: the TPM at '%s' is busy (%s), trying again",
			     attempt, label, Tss2_RC_Decode(t->last_rc));
		/* 20-100 ms, growing, jittered so the waiting execs spread out */
		if (RAND_bytes(&jitter, 1) != 1)
			jitter = 0;
		pause.tv_sec = 0;
		pause.tv_nsec = (long)(20 + (attempt < 10 ? attempt * 5 : 50) + jitter % 30) * 1000000L;
		/* no retry that the request's deadline would cut short */
		if (OCIKP_HOST_HAS(ctx->host, deadline_ms) &&
		    ctx->host->deadline_ms(ctx) < pause.tv_nsec / 1000000L + 100)
			break;
		nanosleep(&pause, NULL);
	}
	ocikp_debugf(ctx, "unwrap: %lu TPM commands over %s in %d attempt%s (%s%s)", commands, label,
		     attempt, attempt == 1 ? "" : "s", st == OCIKP_OK ? "opened" : "failed",
		     kept ? ", TPM context kept from an earlier call" : "");
	return st;
}

/* The EK public key as PEM, for `ocikp tpm ekpub`. */
int tpm_ekpub(struct ocikp_ctx *ctx, bool ecc, struct ocikp_buf *pem)
{
	struct tpm *t = ctx->backend_data;
	TPM2B_PUBLIC pub;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *n = NULL, *e = NULL;
	unsigned char point[65];	/* lives until OSSL_PARAM_BLD_to_param() copies it */
	BIO *bio = NULL;
	char *text;
	long len;
	int st;

	st = t ? tpm_open(ctx, t, NULL) : OCIKP_INTERNAL;
	if (st == OCIKP_OK)
		st = ek_get(ctx, t, ecc, &pub);
	if (st == OCIKP_OK) {
		bool ok;
		if (ecc) {
			const TPMS_ECC_POINT *q = &pub.publicArea.unique.ecc;
			point[0] = 0x04;
			ok = q->x.size == 32 && q->y.size == 32;
			if (ok) {
				memcpy(point + 1, q->x.buffer, 32);
				memcpy(point + 33, q->y.buffer, 32);
			}
			ok = ok && bld &&
			     OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
			     OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 65);
		} else {
			UINT32 exp = pub.publicArea.parameters.rsaDetail.exponent;
			n = BN_bin2bn(pub.publicArea.unique.rsa.buffer, pub.publicArea.unique.rsa.size, NULL);
			e = BN_new();
			ok = n && e && BN_set_word(e, exp ? exp : 65537) && bld &&
			     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
			     OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
		}
		ok = ok && (params = OSSL_PARAM_BLD_to_param(bld)) &&
		     (pctx = EVP_PKEY_CTX_new_from_name(NULL, ecc ? "EC" : "RSA", NULL)) &&
		     EVP_PKEY_fromdata_init(pctx) == 1 &&
		     EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1 &&
		     (bio = BIO_new(BIO_s_mem())) && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
		     (len = BIO_get_mem_data(bio, &text)) > 0 &&
		     ctx->host->buf_append(pem, text, (size_t)len) == OCIKP_OK;
		if (!ok) {
			ocikp_errorf(ctx, "cannot convert the EK public key to PEM");
			st = OCIKP_INTERNAL;
		}
	}
	if (t)
		tpm_leave(t);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return st;
}

/* The current SHA-256 values of the PCRs in mask, as "IDX=hex,...". */
int tpm_read_pcrs(struct ocikp_ctx *ctx, uint32_t mask, struct ocikp_buf *out)
{
	struct tpm *t = ctx->backend_data;
	unsigned char v[32];
	char hex[65];
	unsigned i, j;
	int st = t ? tpm_open(ctx, t, NULL) : OCIKP_INTERNAL;

	for (i = 0; st == OCIKP_OK && i < TPM_MAX_PCRS; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (!read_pcr(t, i, v)) {
			ocikp_errorf(ctx, "cannot read PCR %u", i);
			st = OCIKP_UNAVAILABLE;
			break;
		}
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", v[j]);
		if (out->len)
			ctx->host->buf_append(out, ",", 1);
		snprintf((char *)v, sizeof(v), "%u=", i);
		ctx->host->buf_append(out, v, strlen((char *)v));
		st = ctx->host->buf_append(out, hex, 64);
	}
	if (t)
		tpm_leave(t);
	return st;
}
