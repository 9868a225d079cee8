/*
 * Tokens through p11-kit: the modules the system has registered
 * (p11_kit_modules_load_and_initialize reads its configuration; ocikp
 * never loads a library itself, so module-path= only selects among
 * them), the token and key an RFC 7512 URI names, login, and the private
 * key operations lib/jwe.c hands over.
 *
 * Token access for unwrap holds the host's state lock "pkcs11": SoftHSM's
 * file store rewrites the token on every login, and parallel execs race
 * on it (SoftHSM issue #757: "token not found").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <p11-kit/p11-kit.h>
#include "pkcs11.h"

#define PIN_MAX 256
#define RSA_MAX_BYTES 2048

struct p11_state {
	CK_FUNCTION_LIST **modules;	/* NULL until first needed */
};

/* ---- modules ---------------------------------------------------------------------- */

int p11_init(struct ocikp_ctx *ctx)
{
	struct p11_state *st = calloc(1, sizeof(*st));

	if (!st)
		return OCIKP_INTERNAL;
	ctx->backend_data = st;
	return OCIKP_OK;
}

void p11_fini(struct ocikp_ctx *ctx)
{
	struct p11_state *st = ctx->backend_data;

	if (!st)
		return;
	if (st->modules)
		p11_kit_modules_finalize_and_release(st->modules);	/* C_Finalize each */
	free(st);
	ctx->backend_data = NULL;
}

/* The registered modules, loaded and initialized on first use (a wrap
 * with pub= needs none). */
static int modules(struct ocikp_ctx *ctx, CK_FUNCTION_LIST ***out)
{
	struct p11_state *st = ctx->backend_data;

	if (!st->modules) {
		st->modules = p11_kit_modules_load_and_initialize(0);
		if (!st->modules) {
			const char *m = p11_kit_message();

			ocikp_errorf(ctx, "p11-kit could not load the registered modules: %s",
				     m ? m : "unknown error");
			return OCIKP_UNAVAILABLE;
		}
	}
	*out = st->modules;
	return OCIKP_OK;
}

/* module-path= must name a registered module (exit 3 otherwise: it is
 * never loaded). */
static int check_module_path(struct ocikp_ctx *ctx, const struct p11_uri *u,
			     CK_FUNCTION_LIST **mods)
{
	const char *want = p11_uri_get(u, P11_MODULE_PATH);
	size_t i;

	if (!want)
		return OCIKP_OK;
	for (i = 0; mods[i]; i++) {
		char *f = p11_kit_module_get_filename(mods[i]);
		int same = f && !strcmp(f, want);

		free(f);
		if (same)
			return OCIKP_OK;
	}
	ocikp_errorf(ctx, "pkcs11 URI: module-path is not a module p11-kit has registered "
		     "(p11-kit list-modules); ocikp loads no other library");
	return OCIKP_BAD_INPUT;
}

/* A blank-padded PKCS#11 text field equal to want. */
static int padded_eq(const unsigned char *field, size_t n, const char *want)
{
	while (n && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	return strlen(want) == n && !memcmp(field, want, n);
}

/* A token's text field for a message or a listing: unpadded, and
 * printable (a label is the token owner's text, not ours to send to a
 * terminal). */
static void padded_copy(const unsigned char *field, size_t n, char *out, size_t size)
{
	size_t i;

	while (n && (field[n - 1] == ' ' || field[n - 1] == '\0'))
		n--;
	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		out[i] = field[i] >= 0x20 && field[i] < 0x7f ? (char)field[i] : '?';
	out[n] = '\0';
}

static int module_matches(const struct p11_uri *u, CK_FUNCTION_LIST *m)
{
	const char *name = p11_uri_get(u, P11_MODULE_NAME), *path = p11_uri_get(u, P11_MODULE_PATH);
	const char *v;
	CK_INFO info;
	int ok = 1;

	if (name) {
		char *n = p11_kit_module_get_name(m);

		ok = n && !strcmp(n, name);
		free(n);
	}
	if (ok && path) {
		char *f = p11_kit_module_get_filename(m);

		ok = f && !strcmp(f, path);
		free(f);
	}
	if (!ok)
		return 0;
	if (!u->has[P11_LIB_MANUFACTURER] && !u->has[P11_LIB_DESCRIPTION] &&
	    !u->has[P11_LIB_VERSION])
		return 1;
	if (m->C_GetInfo(&info) != CKR_OK)
		return 0;
	if ((v = p11_uri_get(u, P11_LIB_MANUFACTURER)) &&
	    !padded_eq(info.manufacturerID, sizeof(info.manufacturerID), v))
		return 0;
	if ((v = p11_uri_get(u, P11_LIB_DESCRIPTION)) &&
	    !padded_eq(info.libraryDescription, sizeof(info.libraryDescription), v))
		return 0;
	if ((v = p11_uri_get(u, P11_LIB_VERSION))) {
		char ver[16];

		snprintf(ver, sizeof(ver), "%u.%u", info.libraryVersion.major,
			 info.libraryVersion.minor);
		if (strcmp(ver, v) && !(info.libraryVersion.minor == 0 &&
					snprintf(ver, sizeof(ver), "%u", info.libraryVersion.major) &&
					!strcmp(ver, v)))
			return 0;
	}
	return 1;
}

static int slot_matches(const struct p11_uri *u, CK_FUNCTION_LIST *m, CK_SLOT_ID slot,
			const CK_TOKEN_INFO *t)
{
	const char *v;
	CK_SLOT_INFO si;

	if ((v = p11_uri_get(u, P11_SLOT_ID))) {
		char id[32];

		snprintf(id, sizeof(id), "%lu", (unsigned long)slot);
		if (strcmp(id, v))
			return 0;
	}
	if ((u->has[P11_SLOT_DESCRIPTION] || u->has[P11_SLOT_MANUFACTURER]) &&
	    (m->C_GetSlotInfo(slot, &si) != CKR_OK ||
	     ((v = p11_uri_get(u, P11_SLOT_DESCRIPTION)) &&
	      !padded_eq(si.slotDescription, sizeof(si.slotDescription), v)) ||
	     ((v = p11_uri_get(u, P11_SLOT_MANUFACTURER)) &&
	      !padded_eq(si.manufacturerID, sizeof(si.manufacturerID), v))))
		return 0;
	if ((v = p11_uri_get(u, P11_TOKEN)) && !padded_eq(t->label, sizeof(t->label), v))
		return 0;
	if ((v = p11_uri_get(u, P11_MANUFACTURER)) &&
	    !padded_eq(t->manufacturerID, sizeof(t->manufacturerID), v))
		return 0;
	if ((v = p11_uri_get(u, P11_SERIAL)) &&
	    !padded_eq(t->serialNumber, sizeof(t->serialNumber), v))
		return 0;
	if ((v = p11_uri_get(u, P11_MODEL)) && !padded_eq(t->model, sizeof(t->model), v))
		return 0;
	return 1;
}

/* ---- tokens ---------------------------------------------------------------------- */

struct token {
	CK_FUNCTION_LIST *fn;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info;
};

/* Every present token u allows, into *out (n of them). */
static int tokens(struct ocikp_ctx *ctx, const struct p11_uri *u, struct token **out, size_t *n)
{
	CK_FUNCTION_LIST **mods;
	struct token *list = NULL, *grown;
	size_t i, j;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = modules(ctx, &mods)) != OCIKP_OK || (rc = check_module_path(ctx, u, mods)))
		return rc;
	for (i = 0; mods[i]; i++) {
		CK_SLOT_ID slots[64];
		CK_ULONG ns = 64;

		if (!module_matches(u, mods[i]) ||
		    mods[i]->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
			continue;
		for (j = 0; j < ns; j++) {
			CK_TOKEN_INFO ti;

			if (mods[i]->C_GetTokenInfo(slots[j], &ti) != CKR_OK ||
			    !(ti.flags & CKF_TOKEN_INITIALIZED) ||
			    !slot_matches(u, mods[i], slots[j], &ti))
				continue;
			if (!(grown = realloc(list, (*n + 1) * sizeof(*list)))) {
				free(list);
				return OCIKP_INTERNAL;
			}
			list = grown;
			list[*n].fn = mods[i];
			list[*n].slot = slots[j];
			list[(*n)++].info = ti;
		}
	}
	*out = list;
	if (!*n) {
		ocikp_errorf(ctx, "no PKCS#11 token present matches the URI");
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

/* One attribute's value into out (two-call pattern). */
static CK_RV get_attr(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		      CK_ATTRIBUTE_TYPE type, struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	CK_RV rv = fn->C_GetAttributeValue(s, o, &a, 1);

	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > 65536)
		return CKR_ATTRIBUTE_SENSITIVE;
	if (!(a.pValue = ctx->host->buf_extend(out, a.ulValueLen)) && a.ulValueLen)
		return CKR_HOST_MEMORY;
	rv = fn->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK)
		out->len = 0;
	return rv;
}

/* Objects of class cls in the session, with CKA_ID id and CKA_LABEL label
 * when given: up to max handles. */
static CK_RV find(CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
		  const struct ocikp_buf *id, const char *label, CK_OBJECT_HANDLE *found,
		  CK_ULONG max, CK_ULONG *n)
{
	CK_ATTRIBUTE t[3] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ULONG nt = 1;
	CK_RV rv;

	if (id)
		t[nt].type = CKA_ID, t[nt].pValue = id->data, t[nt++].ulValueLen = id->len;
	if (label)
		t[nt].type = CKA_LABEL, t[nt].pValue = (void *)label,
		t[nt++].ulValueLen = strlen(label);
	*n = 0;
	if ((rv = fn->C_FindObjectsInit(s, t, nt)) != CKR_OK)
		return rv;
	rv = fn->C_FindObjects(s, found, max, n);
	fn->C_FindObjectsFinal(s);
	return rv;
}

/* ---- public keys ------------------------------------------------------------------ */

static const struct {
	const unsigned char *oid;
	size_t len;
	const char *group;
	size_t coord;
} ec_curves[] = {
	{ (const unsigned char *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10, "prime256v1", 32 },
	{ (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x22", 7, "secp384r1", 48 },
};

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *b)
{
	OSSL_PARAM *p = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
	EVP_PKEY_CTX *pc = p ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *k = NULL;

	if (!pc || EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, &k, EVP_PKEY_PUBLIC_KEY, p) <= 0)
		k = NULL;
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(p);
	return k;
}

static EVP_PKEY *rsa_pub(struct ocikp_ctx *ctx, CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
			 CK_OBJECT_HANDLE o)
{
	struct ocikp_buf n = { 0 }, e = { 0 };
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	BIGNUM *bn = NULL, *be = NULL;
	EVP_PKEY *k = NULL;

	if (b && get_attr(fn, s, o, CKA_MODULUS, ctx, &n) == CKR_OK &&
	    get_attr(fn, s, o, CKA_PUBLIC_EXPONENT, ctx, &e) == CKR_OK && n.len && e.len &&
	    (bn = BN_bin2bn(n.data, (int)n.len, NULL)) && (be = BN_bin2bn(e.data, (int)e.len, NULL)) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be))
		k = fromdata("RSA", b);
	BN_free(bn);
	BN_free(be);
	OSSL_PARAM_BLD_free(b);
	ctx->host->buf_free(&n);
	ctx->host->buf_free(&e);
	return k;
}

/* CKA_EC_POINT is a DER OCTET STRING of the point (PKCS#11 2.40); some
 * tokens give the raw point. */
static EVP_PKEY *ec_pub(struct ocikp_ctx *ctx, CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
			CK_OBJECT_HANDLE o)
{
	struct ocikp_buf params = { 0 }, point = { 0 };
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	const unsigned char *pt = NULL;
	EVP_PKEY *k = NULL;
	size_t i, len = 0;

	if (!b || get_attr(fn, s, o, CKA_EC_PARAMS, ctx, &params) != CKR_OK ||
	    get_attr(fn, s, o, CKA_EC_POINT, ctx, &point) != CKR_OK)
		goto out;
	for (i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
		if (params.len == ec_curves[i].len && !memcmp(params.data, ec_curves[i].oid,
							      params.len))
			break;
	if (i == sizeof(ec_curves) / sizeof(ec_curves[0]))
		goto out;
	len = 2 * ec_curves[i].coord + 1;
	if (point.len == len && point.data[0] == 0x04)
		pt = point.data;
	else if (point.len == len + 2 && point.data[0] == 0x04 && point.data[1] == len)
		pt = point.data + 2;
	if (pt && OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME,
						  ec_curves[i].group, 0) &&
	    OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, len))
		k = fromdata("EC", b);
out:
	OSSL_PARAM_BLD_free(b);
	ctx->host->buf_free(&params);
	ctx->host->buf_free(&point);
	return k;
}

/* The EVP_PKEY of a key object (public, or an RSA private key's public
 * half); NULL for another type or curve. */
static EVP_PKEY *object_pub(struct ocikp_ctx *ctx, CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
			    CK_OBJECT_HANDLE o)
{
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };

	if (fn->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
		return NULL;
	if (kt == CKK_RSA)
		return rsa_pub(ctx, fn, s, o);
	return kt == CKK_EC ? ec_pub(ctx, fn, s, o) : NULL;
}

static int object_id(struct ocikp_ctx *ctx, CK_FUNCTION_LIST *fn, CK_SESSION_HANDLE s,
		     CK_OBJECT_HANDLE o, struct p11_key *k)
{
	struct ocikp_buf id = { 0 };
	int rc = OCIKP_OK;

	if (get_attr(fn, s, o, CKA_ID, ctx, &id) != CKR_OK || !id.len || id.len > P11_ID_MAX) {
		ocikp_errorf(ctx, "the key has no CKA_ID (1 to %d bytes) to record", P11_ID_MAX);
		rc = OCIKP_BAD_INPUT;
	} else {
		memcpy(k->id, id.data, id.len);
		k->id_len = id.len;
	}
	ctx->host->buf_free(&id);
	return rc;
}

static CK_RV open_session(const struct token *t, CK_SESSION_HANDLE *s)
{
	return t->fn->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, s);
}

int p11_find_public(struct ocikp_ctx *ctx, const struct p11_uri *u, struct p11_key *k)
{
	const struct ocikp_buf *id = u->has[P11_ID] ? &u->v[P11_ID] : NULL;
	const char *label = p11_uri_get(u, P11_OBJECT);
	struct token *ts = NULL;
	size_t i, nt, total = 0;
	int rc;

	memset(k, 0, sizeof(*k));
	k->lock_fd = -1;
	if ((rc = tokens(ctx, u, &ts, &nt)) != OCIKP_OK)
		goto out;
	for (i = 0; i < nt; i++) {
		CK_SESSION_HANDLE s;
		CK_OBJECT_HANDLE o[2];
		CK_ULONG n = 0;

		if (open_session(&ts[i], &s) != CKR_OK)
			continue;
		if (find(ts[i].fn, s, CKO_PUBLIC_KEY, id, label, o, 2, &n) == CKR_OK && n) {
			total += n;
			if (total == 1) {
				k->pub = object_pub(ctx, ts[i].fn, s, o[0]);
				rc = k->pub ? object_id(ctx, ts[i].fn, s, o[0], k) : OCIKP_BAD_INPUT;
				if (!k->pub)
					ocikp_errorf(ctx, "the key is not RSA or EC on P-256/P-384");
			}
		}
		ts[i].fn->C_CloseSession(s);
	}
	if (total > 1) {
		ocikp_errorf(ctx, "the URI matches %zu public keys; name one (token=, object=, id=)",
			     total);
		rc = OCIKP_BAD_INPUT;
	} else if (!total) {
		ocikp_errorf(ctx, "no public key on the token matches the URI (object=, id=)");
		rc = OCIKP_WRONG_KEY;
	}
out:
	free(ts);
	if (rc != OCIKP_OK) {
		EVP_PKEY_free(k->pub);
		k->pub = NULL;
	}
	return rc;
}

/* ---- PINs and login ------------------------------------------------------------ */

/* pin-source is a file: URI or a path; read with the caller's rights. */
static int pin_from_source(struct ocikp_ctx *ctx, const char *src, struct ocikp_buf *pin)
{
	const struct ocikp_host *h = ctx->host;
	const char *path = src;

	if (!strncmp(src, "file://", 7))
		path = src + 7;
	else if (!strncmp(src, "file:", 5))
		path = src + 5;
	if (path[0] != '/') {
		ocikp_errorf(ctx, "pkcs11 URI: pin-source must be file:/absolute/path");
		return OCIKP_BAD_INPUT;
	}
	if (OCIKP_HOST_HAS(h, read_request_file))
		return h->read_request_file(ctx, "pkcs11 pin-source", path, PIN_MAX, pin);
	return h->read_private_file(ctx, "pkcs11 pin-source", path, PIN_MAX, pin);
}

/* The PIN: pin-value, pin-source, else the drop-in's pkcs11.pin_file; one
 * trailing newline dropped.  *have 0 when none is configured. */
static int get_pin(struct ocikp_ctx *ctx, const struct p11_uri *u, struct ocikp_buf *pin,
		   int *have)
{
	const char *file = ocikp_conf(ctx, "pin_file");
	int rc = OCIKP_OK;

	*have = 1;
	if (u->has[P11_PIN_VALUE])
		rc = ctx->host->buf_append(pin, u->v[P11_PIN_VALUE].data, u->v[P11_PIN_VALUE].len);
	else if (u->has[P11_PIN_SOURCE])
		rc = pin_from_source(ctx, p11_uri_get(u, P11_PIN_SOURCE), pin);
	else if (file)
		rc = ctx->host->read_private_file(ctx, "pkcs11.pin_file", file, PIN_MAX, pin);
	else
		*have = 0;
	if (rc == OCIKP_OK && pin->len && pin->data[pin->len - 1] == '\n')
		pin->data[--pin->len] = '\0';
	if (rc == OCIKP_OK && pin->len && pin->data[pin->len - 1] == '\r')
		pin->data[--pin->len] = '\0';
	return rc;
}

static int login(struct ocikp_ctx *ctx, const struct p11_uri *u, const struct token *t,
		 struct p11_key *k)
{
	struct ocikp_buf pin = { 0 };
	char label[33];
	int have, rc;
	CK_RV rv;

	padded_copy(t->info.label, sizeof(t->info.label), label, sizeof(label));
	if (!(t->info.flags & CKF_LOGIN_REQUIRED))
		return OCIKP_OK;
	if ((rc = get_pin(ctx, u, &pin, &have)) != OCIKP_OK)
		goto out;
	if (!have) {
		ocikp_errorf(ctx, "token '%s' needs a PIN: pin-source= in the decryption URL, or "
			     "pkcs11.pin_file", label);
		rc = OCIKP_CONFIG;
		goto out;
	}
	rv = t->fn->C_Login(k->session, CKU_USER, pin.len ? pin.data : (CK_UTF8CHAR *)"",
			    pin.len);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		k->logged_in = rv == CKR_OK;
		rc = OCIKP_OK;
	} else if (rv == CKR_PIN_LOCKED) {
		ocikp_errorf(ctx, "token '%s': the PIN is locked (too many wrong PINs); the "
			     "security officer must unblock it", label);
		rc = OCIKP_CONFIG;
	} else if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
		ocikp_errorf(ctx, "token '%s': wrong PIN", label);
		rc = OCIKP_CONFIG;
	} else {
		ocikp_errorf(ctx, "token '%s': login failed (CKR 0x%lx)", label, (unsigned long)rv);
		rc = OCIKP_UNAVAILABLE;
	}
out:
	ctx->host->buf_free(&pin);	/* cleansed */
	return rc;
}

/* Which token holds a public key with this CKA_ID (no login needed): -1
 * for none, -2 for more than one. */
static long token_with_id(const struct token *ts, size_t nt, const struct ocikp_buf *id)
{
	long found = -1;
	size_t i;

	for (i = 0; i < nt; i++) {
		CK_SESSION_HANDLE s;
		CK_OBJECT_HANDLE o;
		CK_ULONG n = 0;

		if (open_session(&ts[i], &s) != CKR_OK)
			continue;
		if (find(ts[i].fn, s, CKO_PUBLIC_KEY, id, NULL, &o, 1, &n) == CKR_OK && n)
			found = found == -1 ? (long)i : -2;
		ts[i].fn->C_CloseSession(s);
	}
	return found;
}

static int open_private(struct ocikp_ctx *ctx, const struct p11_uri *u, const struct token *t,
			const struct ocikp_buf *id, struct p11_key *k)
{
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;
	CK_RV rv;
	int rc;

	k->fn = t->fn;
	if ((rv = open_session(t, &k->session)) != CKR_OK) {
		ocikp_errorf(ctx, "could not open a session on the token (CKR 0x%lx)",
			     (unsigned long)rv);
		k->fn = NULL;
		return OCIKP_UNAVAILABLE;
	}
	if ((rc = login(ctx, u, t, k)) != OCIKP_OK)
		return rc;
	if (find(t->fn, k->session, CKO_PRIVATE_KEY, id, NULL, &o, 1, &n) != CKR_OK || !n) {
		ocikp_errorf(ctx, "no private key with the annotation's key_id on the token");
		return OCIKP_WRONG_KEY;
	}
	k->priv = o;
	/* the public half tells lib/jwe.c the type, size or curve */
	if (find(t->fn, k->session, CKO_PUBLIC_KEY, id, NULL, &o, 1, &n) == CKR_OK && n)
		k->pub = object_pub(ctx, t->fn, k->session, o);
	if (!k->pub)
		k->pub = object_pub(ctx, t->fn, k->session, k->priv);
	if (!k->pub) {
		ocikp_errorf(ctx, "the token's key is not RSA or EC on P-256/P-384, or has no "
			     "public key object");
		return OCIKP_WRONG_KEY;
	}
	return OCIKP_OK;
}

int p11_find_private(struct ocikp_ctx *ctx, const struct p11_uri *u, const unsigned char *idb,
		     size_t id_len, struct p11_key *k)
{
	struct ocikp_buf id = { (unsigned char *)idb, id_len, id_len };
	struct token *ts = NULL;
	size_t nt = 0;
	long which;
	int rc;

	memset(k, 0, sizeof(*k));
	k->lock_fd = -1;
	if ((rc = ctx->host->state_lock(ctx, "pkcs11", &k->lock_fd)) != OCIKP_OK)
		return rc;
	if ((rc = tokens(ctx, u, &ts, &nt)) != OCIKP_OK)
		goto out;
	which = token_with_id(ts, nt, &id);
	/* a PIN is tried on one token only: never on every token the URI
	 * allows, where it could count towards locking the wrong one */
	if (which == -1 && nt == 1)
		which = 0;
	if (which == -1) {
		ocikp_errorf(ctx, "no key with the annotation's key_id on the %zu tokens the "
			     "URI allows", nt);
		rc = OCIKP_WRONG_KEY;
	} else if (which == -2) {
		ocikp_errorf(ctx, "the annotation's key_id is on more than one token; name it "
			     "(token= or serial= in the decryption URL)");
		rc = OCIKP_BAD_INPUT;
	} else {
		rc = open_private(ctx, u, &ts[which], &id, k);
	}
out:
	free(ts);
	return rc;
}

void p11_key_release(struct ocikp_ctx *ctx, struct p11_key *k)
{
	if (k->fn) {
		if (k->logged_in)
			k->fn->C_Logout(k->session);
		k->fn->C_CloseSession(k->session);
	}
	EVP_PKEY_free(k->pub);
	if (k->lock_fd >= 0)
		ctx->host->state_unlock(k->lock_fd);
	memset(k, 0, sizeof(*k));
	k->lock_fd = -1;
}

/* ---- the private key operations -------------------------------------------------- */

/* RFC 8017 §7.1.2 decoding of em (the raw RSA output, k bytes).  OpenSSL's
 * is constant-time; OpenSSL 3 deprecates it, so pkcs11-oaep.c keeps the
 * deprecation to itself. */
int p11_oaep_decode(const char *md, const unsigned char *em, size_t k, unsigned char *out,
		    size_t *outlen);

static int token_fail(struct ocikp_ctx *ctx, const char *what, CK_RV rv)
{
	if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE) {
		ocikp_errorf(ctx, "the token's %s fails: the key does not open it", what);
		return OCIKP_WRONG_KEY;
	}
	ocikp_errorf(ctx, "the token's %s fails (CKR 0x%lx)", what, (unsigned long)rv);
	return OCIKP_UNAVAILABLE;
}

/* Refused OAEP parameters: SoftHSM 2.6 takes OAEP with SHA-1 only. */
static int oaep_refused(CK_RV rv)
{
	return rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID ||
	       rv == CKR_ARGUMENTS_BAD;
}

/* Raw RSA on the token, then OAEP decoded here. */
static int raw_then_oaep(struct ocikp_ctx *ctx, struct p11_key *k, const char *md,
			 const unsigned char *in, size_t inlen, unsigned char *out,
			 size_t *outlen)
{
	CK_MECHANISM m = { CKM_RSA_X_509, NULL, 0 };
	unsigned char em[RSA_MAX_BYTES], raw[RSA_MAX_BYTES];
	CK_ULONG n = sizeof(raw);
	CK_RV rv;
	int rc;

	if (inlen > sizeof(em))
		return OCIKP_WRONG_KEY;
	if ((rv = k->fn->C_DecryptInit(k->session, &m, k->priv)) != CKR_OK ||
	    (rv = k->fn->C_Decrypt(k->session, (CK_BYTE *)in, inlen, raw, &n)) != CKR_OK)
		return token_fail(ctx, "raw RSA decryption", rv);
	if (n > inlen) {
		rc = OCIKP_WRONG_KEY;
	} else {
		/* a token may drop the leading zero bytes: put them back */
		memset(em, 0, inlen - n);
		memcpy(em + inlen - n, raw, n);
		rc = p11_oaep_decode(md, em, inlen, out, outlen);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(em, sizeof(em));
	return rc;
}

/* A ciphertext not below the modulus was made for another key of the same
 * size; tokens answer it with CKR_GENERAL_ERROR (SoftHSM), so it is told
 * here.  Public values only: no timing to hide. */
static int below_modulus(EVP_PKEY *pub, const unsigned char *in, size_t inlen)
{
	BIGNUM *n = NULL, *c = BN_bin2bn(in, (int)inlen, NULL);
	int below = c && EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) > 0 &&
		    BN_cmp(c, n) < 0;

	ERR_clear_error();
	BN_free(c);
	BN_free(n);
	return below;
}

int p11_rsa_oaep(struct ocikp_ctx *ctx, void *arg, const char *md, const unsigned char *in,
		 size_t inlen, unsigned char *out, size_t *outlen)
{
	struct p11_key *k = arg;
	int sha1 = !strcmp(md, "SHA1");
	CK_RSA_PKCS_OAEP_PARAMS p = { sha1 ? CKM_SHA_1 : CKM_SHA256,
				      sha1 ? CKG_MGF1_SHA1 : CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED,
				      NULL, 0 };
	CK_MECHANISM m = { CKM_RSA_PKCS_OAEP, &p, sizeof(p) };
	CK_ULONG n = *outlen;
	CK_RV rv;

	if (!below_modulus(k->pub, in, inlen))
		return OCIKP_WRONG_KEY;	/* jwe.c says it does not open with this key */
	rv = k->fn->C_DecryptInit(k->session, &m, k->priv);
	if (rv == CKR_OK)
		rv = k->fn->C_Decrypt(k->session, (CK_BYTE *)in, inlen, out, &n);
	if (rv == CKR_OK) {
		*outlen = n;
		return OCIKP_OK;
	}
	if (oaep_refused(rv)) {
		ocikp_debugf(ctx, "the token refuses OAEP with %s (CKR 0x%lx): raw RSA and "
			     "OAEP decoding in software", md, (unsigned long)rv);
		return raw_then_oaep(ctx, k, md, in, inlen, out, outlen);
	}
	return token_fail(ctx, "RSA-OAEP decryption", rv);
}

int p11_ecdh(struct ocikp_ctx *ctx, void *arg, EVP_PKEY *peer, const unsigned char *point,
	     size_t pointlen, unsigned char *z, size_t zlen)
{
	struct p11_key *k = arg;
	CK_ECDH1_DERIVE_PARAMS p = { CKD_NULL, 0, NULL, pointlen, (unsigned char *)point };
	CK_MECHANISM m = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG len = zlen;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE v = { CKA_VALUE, z, zlen };
	CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
	CK_RV rv;
	int rc = OCIKP_OK;

	(void)peer;
	rv = k->fn->C_DeriveKey(k->session, &m, k->priv, t, sizeof(t) / sizeof(t[0]), &secret);
	if (rv != CKR_OK)
		return token_fail(ctx, "ECDH derivation", rv);
	rv = k->fn->C_GetAttributeValue(k->session, secret, &v, 1);
	if (rv != CKR_OK || v.ulValueLen != zlen) {
		OPENSSL_cleanse(z, zlen);
		ocikp_errorf(ctx, "the token's ECDH secret could not be read (CKR 0x%lx)",
			     (unsigned long)rv);
		rc = OCIKP_UNAVAILABLE;
	}
	k->fn->C_DestroyObject(k->session, secret);	/* a session object: gone anyway */
	return rc;
}

/* ---- `ocikp pkcs11 list` ----------------------------------------------------------- */

/* RFC 7512 percent-encoding of a value for a URI we print. */
static void put_pct(struct ocikp_ctx *ctx, struct ocikp_buf *out, const unsigned char *s,
		    size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c))
			ctx->host->buf_append(out, &c, 1);
		else
			ctx->host->buf_append(out, e, 3);
	}
}

static void list_keys(struct ocikp_ctx *ctx, const struct token *t, struct ocikp_buf *out)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o[64];
	CK_ULONG n = 0, i;
	size_t label_len = sizeof(t->info.label);

	/* the URI carries the label's bytes, percent-encoded */
	while (label_len && (t->info.label[label_len - 1] == ' ' || !t->info.label[label_len - 1]))
		label_len--;
	if (open_session(t, &s) != CKR_OK)
		return;
	if (find(t->fn, s, CKO_PUBLIC_KEY, NULL, NULL, o, 64, &n) != CKR_OK)
		n = 0;
	for (i = 0; i < n; i++) {
		struct ocikp_buf id = { 0 }, lab = { 0 };
		EVP_PKEY *pk = object_pub(ctx, t->fn, s, o[i]);
		unsigned algs = pk ? (unsigned)EVP_PKEY_get_bits(pk) : 0;

		get_attr(t->fn, s, o[i], CKA_ID, ctx, &id);
		get_attr(t->fn, s, o[i], CKA_LABEL, ctx, &lab);
		ctx->host->buf_append(out, "    key: ", 9);
		ctx->host->buf_append(out, "pkcs11:token=", 13);
		put_pct(ctx, out, t->info.label, label_len);
		if (lab.len) {
			ctx->host->buf_append(out, ";object=", 8);
			put_pct(ctx, out, lab.data, lab.len);
		}
		if (id.len) {
			ctx->host->buf_append(out, ";id=", 4);
			put_pct(ctx, out, id.data, id.len);
		}
		ctx->host->buf_append(out, ";type=private", 13);
		if (!pk) {
			ctx->host->buf_append(out, " (not usable: not RSA or EC P-256/P-384)\n", 41);
		} else {
			char what[48];

			snprintf(what, sizeof(what), " (%s %u)\n",
				 EVP_PKEY_is_a(pk, "RSA") ? "RSA" : "EC", algs);
			ctx->host->buf_append(out, what, strlen(what));
		}
		EVP_PKEY_free(pk);
		ctx->host->buf_free(&id);
		ctx->host->buf_free(&lab);
	}
	t->fn->C_CloseSession(s);
}

int p11_list(struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	struct p11_uri any = { 0 };
	struct token *ts = NULL;
	CK_FUNCTION_LIST **mods;
	size_t i, nt = 0;
	int rc = modules(ctx, &mods);

	if (rc != OCIKP_OK)
		return rc;	/* p11-kit itself failed: say so, not "no token" */
	rc = tokens(ctx, &any, &ts, &nt);
	if (rc == OCIKP_UNAVAILABLE && !nt) {
		ocikp_error_clear(ctx);
		ctx->host->buf_append(out, "no PKCS#11 token present\n", 26);
		return OCIKP_OK;
	}
	for (i = 0; rc == OCIKP_OK && i < nt; i++) {
		char label[33], serial[17], model[17], line[200];
		char *mod = p11_kit_module_get_name(ts[i].fn);

		padded_copy(ts[i].info.label, sizeof(ts[i].info.label), label, sizeof(label));
		padded_copy(ts[i].info.serialNumber, sizeof(ts[i].info.serialNumber), serial,
			    sizeof(serial));
		padded_copy(ts[i].info.model, sizeof(ts[i].info.model), model, sizeof(model));
		snprintf(line, sizeof(line), "token: %s (model %s, serial %s, module %s)\n", label,
			 model, serial, mod ? mod : "?");
		free(mod);
		ctx->host->buf_append(out, line, strlen(line));
		list_keys(ctx, &ts[i], out);
	}
	free(ts);
	return rc;
}
