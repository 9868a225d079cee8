/* A stand-in for plugins/gcpkms/gcpkms-cred.c in the cache's unit test:
 * the test picks the identity, the token, its lifetime and failures, and
 * counts the fetches. */
#ifndef OCIKP_TEST_CRED_STUB_H
#define OCIKP_TEST_CRED_STUB_H
#include "gcpkms.h"

struct gcp_cred {
	char hex[65];		/* what cred_identity gives */
};

struct stub_ctl {
	const char *token;	/* the token to hand out; NULL: a new one per call */
	long long expires_in;	/* its lifetime, s from now */
	int fail;		/* an OCIKP_* status to fail with; 0: succeed */
	long sleep_ms;		/* before answering */
	const char *count_file;	/* each fetch appends a byte (O_APPEND): counts across forks */
	int calls;		/* fetches in this process */
};
extern struct stub_ctl stub;

/* Every token the stub makes holds this, so a test can look for leaks. */
#define STUB_MARK "S3CRET"
#endif
