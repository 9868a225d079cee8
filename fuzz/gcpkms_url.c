/* Target: the gcpkms key URLs and options (plugins/gcpkms/ocikp-gcpkms.c,
 * gcpkms-opts.c): the drop-in read by the host's own parser (conf_load)
 * into the options gcpkms_opts_load takes (endpoints, metadata host,
 * credentials path, kms_uri, lib/http's timeouts and CA file); then the
 * key URL a request names through effective_url (kms_uri replaces it) and
 * parse_key_url, with and without a version, and, as an unwrap checks an
 * annotation's key, check_dc against the decrypt parameters.
 * The input is NUL-separated: the drop-in text, the request's key URL,
 * then up to 8 decrypt parameters.  The backend file is included for its
 * static functions; wrap and unwrap themselves would reach the network. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"
#include "../plugins/gcpkms/ocikp-gcpkms.c"

#define MAX_DC 8

/* The drop-in text as the host's configuration (fuzz_dropin, fuzz.h). */
static void put_dropin(const uint8_t *text, size_t n)
{
	conf_free(&fuzz_host.conf);
	if (fuzz_dropin(text, n, &fuzz_host.conf) != OCIKP_OK)
		conf_free(&fuzz_host.conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	char *copy = malloc(size + 1), *parts[3 + MAX_DC] = { 0 }, *p, *end, name[NAME_MAX_LEN];
	const char *url;
	struct gcpkms_opts o;
	size_t n = 0, key_len;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* parts[0] the drop-in; parts[1] the key URL; then the dc list, always
	 * NULL-terminated. */
	for (p = copy, end = copy + size; n < 2 + MAX_DC; p += strlen(p) + 1) {
		parts[n++] = p;
		if (p + strlen(p) >= end)
			break;
	}
	put_dropin((const uint8_t *)parts[0], strlen(parts[0]));
	host_ctx_init(&b.pub, &fuzz_host, "gcpkms");
	if (gcpkms_opts_load(&b.pub, &o) == OCIKP_OK) {
		url = effective_url(&b.pub, &o, parts[1]);
		/* As unwrap takes it: a version allowed, then the parameters. */
		if (url && parse_key_url(&b.pub, url, name, &key_len, 1) == OCIKP_OK)
			check_dc(&b.pub, &o, url, name, key_len, (const char *const *)parts + 2);
		if (url)
			parse_key_url(&b.pub, url, name, &key_len, 0);
	}
	free(copy);
	return 0;
}
