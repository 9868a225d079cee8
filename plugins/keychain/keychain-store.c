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
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <libsecret/secret.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include "keychain.h"

#define KEY_FILE_MAX 16384	/* a P-256 PEM is about 250 bytes */

static const SecretSchema key_schema = {
	"org.ocikp.Keychain", SECRET_SCHEMA_NONE,
	{ { "tag", SECRET_SCHEMA_ATTRIBUTE_STRING }, { NULL, 0 } },
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};

/* No passphrase: OpenSSL's default callback would prompt on a terminal,
 * and ocikp never prompts. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* A P-256 private key from PEM text.  OpenSSL allocates through the host's
 * cleansing allocator (host/alloc.c), so the copies its decoders free are
 * wiped, and its own parser is used. */
static EVP_PKEY *parse_pem(const char *pem, size_t len)
{
	BIO *bio = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	EVP_PKEY_CTX *pctx = NULL;
	char group[32];

	BIO_free(bio);
	if (key && (!EVP_PKEY_is_a(key, "EC") ||
		    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) != 1 ||
		    strcmp(group, "prime256v1") != 0))
		goto bad;
	/* A stored public point must belong to the scalar. */
	pctx = key ? EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL) : NULL;
	if (key && (!pctx || EVP_PKEY_pairwise_check(pctx) != 1))
		goto bad;
	EVP_PKEY_CTX_free(pctx);
	return key;
bad:
	EVP_PKEY_CTX_free(pctx);
	EVP_PKEY_free(key);
	return NULL;
}

/* The key file, read under the host's policy for secrets. */
static int load_file(struct ocikp_ctx *ctx, const char *path, void **out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf pem = { 0 };
	int rc;

	if (!OCIKP_HOST_HAS(h, read_private_file)) {
		ocikp_errorf(ctx, "this ocikp is too old for keychain.key_file (no read_private_file)");
		return OCIKP_CONFIG;
	}
	rc = h->read_private_file(ctx, "key file", path, KEY_FILE_MAX, &pem);
	if (rc == OCIKP_OK && !(*out = parse_pem((char *)pem.data, pem.len))) {
		ocikp_errorf(ctx, "key file %s: not a P-256 private key in PEM", path);
		rc = OCIKP_CONFIG;
	}
	h->buf_free(&pem);
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
