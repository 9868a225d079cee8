/*
 * Where the P-256 private key lives: an item of our own schema in the
 * Secret Service (GNOME Keyring, KeePassXC, KWallet), or, for a headless
 * server, a PEM file named by keychain.key_file.  The key is stored as
 * PKCS#8 PEM text; it is never printed.
 *
 * Lookups never unlock and never prompt: ocikp runs without a terminal or a
 * desktop, so a locked keyring is reported, not waited on.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libsecret/secret.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "keychain.h"

static const SecretSchema key_schema = {
	"org.ocikp.Keychain", SECRET_SCHEMA_NONE,
	{ { "tag", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } },
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

/* One DER element of [*p, end) with the tag wanted; its contents in *val. */
static int der_next(const unsigned char **p, const unsigned char *end, int want_tag,
		    int want_class, const unsigned char **val, long *len)
{
	int tag, xclass, ret;

	if (*p >= end)
		return 0;
	ret = ASN1_get_object(p, len, &tag, &xclass, end - *p);
	if ((ret & 0x80) || tag != want_tag || xclass != want_class)
		return 0;
	*val = *p;
	*p += *len;
	return 1;
}

/* The key of a PKCS#8 P-256 PrivateKeyInfo.  OpenSSL's decoders would
 * parse it, but they free their copies of the DER without cleansing them
 * (tests/secrets.sh finds them), so the inner ECPrivateKey
 *   SEQUENCE { INTEGER 1, OCTET STRING d, [0] curve OPTIONAL, [1] BIT STRING point }
 * is walked in place with ASN1_get_object, and the key made with
 * EVP_PKEY_fromdata from a scalar we clear ourselves. */
static EVP_PKEY *key_from_pkcs8(const PKCS8_PRIV_KEY_INFO *p8)
{
	const ASN1_OBJECT *alg;
	const X509_ALGOR *algor;
	const void *curve;
	const unsigned char *p, *end, *seq, *val, *d = NULL, *point = NULL;
	unsigned char d_native[32];
	long len;
	int plen, ptype, i;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM params[4];

	if (PKCS8_pkey_get0(&alg, &p, &plen, &algor, p8) != 1 ||
	    OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey)
		return NULL;
	X509_ALGOR_get0(NULL, &ptype, &curve, algor);
	if (ptype != V_ASN1_OBJECT || OBJ_obj2nid(curve) != NID_X9_62_prime256v1)
		return NULL;
	end = p + plen;
	if (!der_next(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, &seq, &len) || p != end)
		return NULL;
	p = seq;
	end = seq + len;
	if (!der_next(&p, end, V_ASN1_INTEGER, V_ASN1_UNIVERSAL, &val, &len) ||
	    len != 1 || val[0] != 1 ||
	    !der_next(&p, end, V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL, &d, &len) || len != 32)
		return NULL;
	if (p < end && *p == 0xa0)	/* [0] curve: the algorithm already named it */
		der_next(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, &val, &len);
	if (der_next(&p, end, 1, V_ASN1_CONTEXT_SPECIFIC, &seq, &len) &&
	    der_next(&seq, seq + len, V_ASN1_BIT_STRING, V_ASN1_UNIVERSAL, &val, &len) &&
	    len == 1 + EC_POINT_LEN && val[0] == 0)
		point = val + 1;
	if (!point || p != end)
		return NULL;

	/* OSSL_PARAM integers are native-endian. */
	for (i = 0; i < 32; i++)
		d_native[i] = d[__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? i : 31 - i];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, d_native, sizeof(d_native));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
						      EC_POINT_LEN);
	params[3] = OSSL_PARAM_construct_end();
	pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		key = NULL;
	OPENSSL_cleanse(d_native, sizeof(d_native));
	EVP_PKEY_CTX_free(pctx);
	/* The point is stored beside the scalar: they must belong together. */
	pctx = key ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
	if (key && (!pctx || EVP_PKEY_pairwise_check(pctx) != 1)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	EVP_PKEY_CTX_free(pctx);
	return key;
}

/* PEM_FLAG_SECURE: the PEM layer clears what it allocated; PKCS#8's own
 * free clears the key octets; the DER we clear ourselves. */
static EVP_PKEY *parse_pem(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long der_len = 0;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	EVP_PKEY *key = NULL;

	if (bio && PEM_read_bio_ex(bio, &name, &header, &der, &der_len,
				   PEM_FLAG_SECURE | PEM_FLAG_EAY_COMPATIBLE) == 1 &&
	    !strcmp(name, PEM_STRING_PKCS8INF)) {
		p = der;
		p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, der_len);
		key = p8 ? key_from_pkcs8(p8) : NULL;
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	OPENSSL_secure_clear_free(der, (size_t)der_len);
	OPENSSL_secure_free(name);
	OPENSSL_secure_free(header);
	BIO_free(bio);
	return key;
}

static int load_file(struct ocikp_ctx *ctx, const char *path, void **out)
{
	struct ocikp_buf pem = { 0 };
	struct stat st;
	unsigned char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = OCIKP_CONFIG;

	if (fd < 0) {
		ocikp_errorf(ctx, "key file %s: %s", path, strerror(errno));
		return OCIKP_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16384) {
		ocikp_errorf(ctx, "key file %s: not a small regular file", path);
	} else if (st.st_mode & 077) {
		ocikp_errorf(ctx, "key file %s: accessible by group or others (mode %03o, want 600)",
			     path, (unsigned)(st.st_mode & 0777));
	} else if (!(p = ctx->host->buf_extend(&pem, (size_t)st.st_size)) ||
		   read(fd, p, (size_t)st.st_size) != st.st_size) {
		ocikp_errorf(ctx, "key file %s: cannot read", path);
	} else if (!(*out = parse_pem((char *)pem.data, pem.len))) {
		ocikp_errorf(ctx, "key file %s: not a P-256 private key in PEM", path);
	} else {
		rc = OCIKP_OK;
	}
	close(fd);
	ctx->host->buf_free(&pem);
	return rc;
}

/* The Secret Service, or why not. */
static int service_open(struct ocikp_ctx *ctx, SecretService **svc)
{
	GError *err = NULL;

	/* Without a session bus libsecret would try to autolaunch one. */
	if (!getenv("DBUS_SESSION_BUS_ADDRESS")) {
		ocikp_errorf(ctx, "no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset): no Secret Service; "
			     "set keychain.key_file on a headless machine");
		return OCIKP_UNAVAILABLE;
	}
	*svc = secret_service_get_sync(SECRET_SERVICE_OPEN_SESSION, NULL, &err);
	if (!*svc) {
		ocikp_errorf(ctx, "Secret Service unavailable: %s", err ? err->message : "unknown error");
		g_clear_error(&err);
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

/* The items holding `tag`, searched without unlocking anything. */
static int find(struct ocikp_ctx *ctx, SecretService *svc, const char *tag, GList **items)
{
	GHashTable *attrs = g_hash_table_new(g_str_hash, g_str_equal);
	GError *err = NULL;

	g_hash_table_insert(attrs, (gpointer)"tag", (gpointer)tag);
	*items = secret_service_search_sync(svc, &key_schema, attrs,
					    SECRET_SEARCH_ALL | SECRET_SEARCH_LOAD_SECRETS, NULL, &err);
	g_hash_table_unref(attrs);
	if (err) {
		ocikp_errorf(ctx, "Secret Service search failed: %s", err->message);
		g_clear_error(&err);
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

int key_load(struct ocikp_ctx *ctx, const char *tag, void **out)
{
	const char *file = ocikp_conf(ctx, "key_file");
	SecretService *svc = NULL;
	GList *items = NULL;
	SecretValue *value = NULL;
	int rc;

	*out = NULL;
	if (file)
		return load_file(ctx, file, out);
	rc = service_open(ctx, &svc);
	if (rc == OCIKP_OK)
		rc = find(ctx, svc, tag, &items);
	if (rc == OCIKP_OK && !items) {
		ocikp_errorf(ctx, "no key with tag '%s' in the Secret Service", tag);
		rc = OCIKP_NOT_MINE;
	} else if (rc == OCIKP_OK && secret_item_get_locked(items->data)) {
		ocikp_errorf(ctx, "the keyring holding tag '%s' is locked", tag);
		rc = OCIKP_UNAVAILABLE;
	} else if (rc == OCIKP_OK) {
		gsize len = 0;
		const gchar *pem;
		value = secret_item_get_secret(items->data);
		pem = value ? secret_value_get(value, &len) : NULL;
		if (!pem || !(*out = parse_pem(pem, len))) {
			ocikp_errorf(ctx, "Secret Service item for tag '%s' holds no P-256 private key", tag);
			rc = OCIKP_CONFIG;
		}
	}
	if (value)
		secret_value_unref(value);
	g_list_free_full(items, g_object_unref);
	if (svc)
		g_object_unref(svc);
	return rc;
}

int key_create(struct ocikp_ctx *ctx, const char *tag, const char *file, void **out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	SecretService *svc = NULL;
	GList *items = NULL;
	GError *err = NULL;
	char *pem = NULL, label[256];
	long len = 0;
	int rc = OCIKP_INTERNAL, fd;

	*out = NULL;
	if (!key || !bio || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		ocikp_errorf(ctx, "cannot generate a P-256 key");
		goto out;
	}
	if (file) {
		fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			ocikp_errorf(ctx, "%s: %s", file, strerror(errno));
			rc = OCIKP_CONFIG;
		} else {
			rc = write(fd, pem, (size_t)len) == len && fsync(fd) == 0 ? OCIKP_OK : OCIKP_CONFIG;
			if (rc != OCIKP_OK)
				ocikp_errorf(ctx, "%s: %s", file, strerror(errno));
			close(fd);
		}
		goto out;
	}
	rc = service_open(ctx, &svc);
	if (rc == OCIKP_OK)
		rc = find(ctx, svc, tag, &items);
	if (rc == OCIKP_OK && items) {
		ocikp_errorf(ctx, "a key with tag '%s' already exists (ocikp keychain delete first)", tag);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK) {
		char *text = g_strndup(pem, (gsize)len);
		snprintf(label, sizeof(label), "ocikp image key (%s)", tag);
		if (!secret_password_store_sync(&key_schema, SECRET_COLLECTION_DEFAULT, label, text,
						NULL, &err, "tag", tag, NULL)) {
			ocikp_errorf(ctx, "cannot store the key in the Secret Service: %s",
				     err ? err->message : "refused");
			g_clear_error(&err);
			rc = OCIKP_UNAVAILABLE;
		}
		OPENSSL_cleanse(text, (size_t)len);
		g_free(text);
	}
out:
	if (pem && len > 0)
		OPENSSL_cleanse(pem, (size_t)len);
	BIO_free(bio);
	g_list_free_full(items, g_object_unref);
	if (svc)
		g_object_unref(svc);
	if (rc == OCIKP_OK)
		*out = key;
	else
		EVP_PKEY_free(key);
	return rc;
}

int key_delete(struct ocikp_ctx *ctx, const char *tag)
{
	SecretService *svc = NULL;
	GError *err = NULL;
	int rc = service_open(ctx, &svc);

	if (rc == OCIKP_OK && !secret_password_clear_sync(&key_schema, NULL, &err, "tag", tag, NULL)) {
		if (err)
			ocikp_errorf(ctx, "cannot delete from the Secret Service: %s", err->message);
		else
			ocikp_errorf(ctx, "no key with tag '%s' in the Secret Service", tag);
		rc = err ? OCIKP_UNAVAILABLE : OCIKP_NOT_MINE;
		g_clear_error(&err);
	}
	if (svc)
		g_object_unref(svc);
	return rc;
}

void key_free(void *key)
{
	EVP_PKEY_free(key);
}
