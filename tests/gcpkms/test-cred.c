/*
 * Driver for tests/gcpkms/cred.sh: load one credential (ADC order), fetch a
 * token from the fake Google server, and prove it with a Cloud KMS
 * :encrypt on the fake, which checks the bearer token and its scope.
 *
 * Usage: test-cred FILE|adc.  Environment: GCP_URL, GCP_KEY, GCP_DIR (its
 * ca.pem), GCP_HTTP (the metadata port); TEST_TOKEN_ENDPOINT and
 * TEST_STS_ENDPOINT set the overrides.  Prints one line,
 *   rc=N kms=HTTP exp=SECONDS quota=Q desc=D id=HEX err=LINE
 * and sends debug lines to stderr.  Never prints the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ocikp.h"
#include "gcpkms.h"

static struct host h;
static struct backend_ctx root;
static struct ocikp_ctx *ctx = &root.pub;

/* POST {"plaintext"} to the fake's :encrypt with the token; its status. */
static long kms_check(const struct gcpkms_opts *o, const struct ocikp_buf *tok, const char *quota)
{
	struct ocikp_buf auth = { 0 }, qh = { 0 };
	const char *hdrs[3] = { NULL, NULL, NULL };
	struct http_resp r = { 0 };
	char url[1024];
	const char *body = "{\"plaintext\":\"aGVsbG8=\"}";
	struct http_req req = { .method = "POST", .url = url, .headers = hdrs, .body = body,
				.body_len = strlen(body), .content_type = "application/json" };
	long status;

	snprintf(url, sizeof(url), "%s/v1/%s:encrypt", getenv("GCP_URL"), getenv("GCP_KEY"));
	buf_append(&auth, "Authorization: Bearer ", 22);
	buf_append(&auth, tok->data, tok->len);
	hdrs[0] = (const char *)auth.data;
	if (quota) {
		buf_append(&qh, "x-goog-user-project: ", 21);
		buf_append(&qh, quota, strlen(quota));
		hdrs[1] = (const char *)qh.data;
	}
	status = http_request(ctx, &o->http, &req, &r) == OCIKP_OK ? r.status : -1;
	http_resp_free(ctx, &r);
	buf_free(&auth);
	buf_free(&qh);
	return status;
}

int main(int argc, char **argv)
{
	struct gcpkms_opts o;
	struct gcp_cred *c = NULL;
	struct ocikp_buf tok = { 0 };
	char ca[600], md[64], id[65] = "";
	long long exp = 0;
	long kms = 0;
	int rc;

	if (argc != 2 || !getenv("GCP_URL") || !getenv("GCP_KEY") || !getenv("GCP_DIR") ||
	    !getenv("GCP_HTTP"))
		return 2;
	alloc_hook_openssl();
	host_ctx_init(ctx, &h, "gcpkms");
	debug_enable(true);
	setenv("no_proxy", "*", 1);

	memset(&o, 0, sizeof(o));
	snprintf(ca, sizeof(ca), "%s/ca.pem", getenv("GCP_DIR"));
	snprintf(md, sizeof(md), "127.0.0.1:%s", getenv("GCP_HTTP"));
	o.http.ca_file = ca;
	o.kms_endpoint = getenv("GCP_URL");
	o.metadata_host = md;
	o.token_endpoint = getenv("TEST_TOKEN_ENDPOINT");
	o.sts_endpoint = getenv("TEST_STS_ENDPOINT");
	o.credentials = strcmp(argv[1], "adc") ? argv[1] : NULL;

	rc = cred_load(ctx, &o, &c);
	if (rc == OCIKP_OK) {
		cred_identity(c, id);
		rc = cred_fetch_token(ctx, &o, c, &tok, &exp);
	}
	if (rc == OCIKP_OK)
		kms = kms_check(&o, &tok, cred_quota_project(c));
	printf("rc=%d kms=%ld exp=%lld quota=%s desc=%s id=%s err=%s\n", rc, kms,
	       rc == OCIKP_OK ? exp - (long long)time(NULL) : 0,
	       c && cred_quota_project(c) ? cred_quota_project(c) : "-",
	       c ? cred_describe(c) : "-", id, h.err.msg);
	buf_free(&tok);
	cred_free(ctx, c);
	http_global_cleanup();
	conf_free(&h.conf);
	return 0;
}
