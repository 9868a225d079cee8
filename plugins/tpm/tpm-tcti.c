/*
 * Reaching the TPM: which TCTI, checked before anything is loaded or opened.
 *
 * A backend option never names code (DESIGN.md).  Tss2_TctiLdr_Initialize()
 * splits "name:conf" at the first ':' and dlopen()s the name as given before
 * trying libtss2-tcti-<name>.so.0, so "/tmp/x/evil.so" or "cmd:..." would run
 * someone's code in a root process.  We never hand it the user's string: the
 * name must be one of a few transports, each mapped to a fixed soname, and the
 * conf is parsed here and refused unless every key and value is one we know.
 *
 * A device node or unix socket is trusted like the host trusts files: owned by
 * root or the caller, in directories nobody else can rename it in.  The TCTI
 * is handed the canonical path we checked, never the name as given.
 *
 * The TCTI is wrapped in a counting one, so a debug line can say how many TPM
 * commands an unwrap took.  The wrapper lives as long as the backend's ESYS
 * context; the real TCTI under it is closed between calls when the
 * transport serves one client at a time, and checked again on reopening.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include "tpm.h"

#define DEFAULT_DEVICE "/dev/tpmrm0"
#define ALLOWED "device:, swtpm:, mssim: or tabrmd:"
#define UNBOUND_WAIT_MS 5000	/* a receive outside any request */

/* What a conf value may hold. */
enum kind { K_HOST, K_PORT, K_PATH, K_BUS_NAME, K_BUS_TYPE };

struct key {
	const char *name;
	enum kind kind;
};

static const struct key net_keys[] = {
	{ "host", K_HOST }, { "port", K_PORT }, { "path", K_PATH }, { NULL, 0 }
};
static const struct key tabrmd_keys[] = {
	{ "bus_name", K_BUS_NAME }, { "bus_type", K_BUS_TYPE }, { NULL, 0 }
};

struct transport {
	const char *name;
	const char *soname;	/* a system library found by the dynamic linker's own rules */
	const struct key *keys;	/* NULL: the conf is a device path */
	const char *keys_text;	/* for the error message */
};

static const struct transport transports[] = {
	{ "device", "libtss2-tcti-device.so.0", NULL, "a device path" },
	{ "swtpm", "libtss2-tcti-swtpm.so.0", net_keys, "host, port, path" },
	{ "mssim", "libtss2-tcti-mssim.so.0", net_keys, "host, port, path" },
	{ "tabrmd", "libtss2-tcti-tabrmd.so.0", tabrmd_keys, "bus_name, bus_type" },
};

/* The counting TCTI: forwards every call to the real one.  It outlives a
 * call (the backend keeps its ESYS context), the real one may not: see
 * tcti_release. */
struct counting {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;	/* first: ESAPI sees a TCTI */
	TSS2_TCTI_CONTEXT *inner;	/* NULL: released between calls */
	bool exclusive;		/* the transport serves one client at a time */
	unsigned long commands;
	struct ocikp_ctx *ctx;	/* for the request's deadline */
	bool timed_out;
};

static struct counting *counting_of(TSS2_TCTI_CONTEXT *t)
{
	return (struct counting *)t;
}

static TSS2_RC c_transmit(TSS2_TCTI_CONTEXT *t, size_t size, const uint8_t *command)
{
	if (!counting_of(t)->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	counting_of(t)->commands++;
	return Tss2_Tcti_Transmit(counting_of(t)->inner, size, command);
}

/* Milliseconds left of the request, or -1 on a host without deadlines.
 * Outside a request (fini flushing the EK) a fixed bound applies. */
static long time_left(struct ocikp_ctx *ctx)
{
	if (!ctx)
		return UNBOUND_WAIT_MS;
	return OCIKP_HOST_HAS(ctx->host, deadline_ms) ? ctx->host->deadline_ms(ctx) : -1;
}

/* Every wait for the TPM ends at the request's deadline.  A TPM that has
 * not answered by then is an I/O error, not "try again": the synchronous
 * ESAPI calls retry TRY_AGAIN for ever. */
static TSS2_RC c_receive(TSS2_TCTI_CONTEXT *t, size_t *size, uint8_t *response, int32_t timeout)
{
	struct counting *c = counting_of(t);
	long left = time_left(c->ctx);
	TSS2_RC rc;

	if (!c->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	if (left >= 0 && (timeout < 0 || left < timeout))
		timeout = left > INT32_MAX ? INT32_MAX : (int32_t)left;
	rc = Tss2_Tcti_Receive(c->inner, size, response, timeout);
	if ((rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_TRY_AGAIN &&
	    (!c->ctx || time_left(c->ctx) == 0)) {
		c->timed_out = true;
		return TSS2_TCTI_RC_IO_ERROR;
	}
	return rc;
}

static void c_finalize(TSS2_TCTI_CONTEXT *t)
{
	(void)t;	/* tcti_close() finalizes the real one through the loader */
}

static TSS2_RC c_cancel(TSS2_TCTI_CONTEXT *t)
{
	if (!counting_of(t)->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	return Tss2_Tcti_Cancel(counting_of(t)->inner);
}

static TSS2_RC c_poll_handles(TSS2_TCTI_CONTEXT *t, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	if (!counting_of(t)->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	return Tss2_Tcti_GetPollHandles(counting_of(t)->inner, h, n);
}

static TSS2_RC c_set_locality(TSS2_TCTI_CONTEXT *t, uint8_t locality)
{
	if (!counting_of(t)->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	return Tss2_Tcti_SetLocality(counting_of(t)->inner, locality);
}

static TSS2_RC c_make_sticky(TSS2_TCTI_CONTEXT *t, TPM2_HANDLE *handle, uint8_t sticky)
{
	if (!counting_of(t)->inner)
		return TSS2_TCTI_RC_NO_CONNECTION;
	return Tss2_Tcti_MakeSticky(counting_of(t)->inner, handle, sticky);
}

/* ---- checking the option ---- */

static bool chars_in(const char *s, const char *extra)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/* An absolute path of plain characters: nothing the TCTI's "k=v,k=v" parser
 * would split, no spaces or control characters. */
static bool path_ok(const char *p)
{
	return p[0] == '/' && strlen(p) < PATH_MAX && chars_in(p, "/._-+@~");
}

static bool value_ok(enum kind kind, const char *v)
{
	char *end;
	unsigned long n;

	switch (kind) {
	case K_HOST:	/* a name, IPv4 or IPv6 literal */
		return strlen(v) <= 253 && chars_in(v, ".-:");
	case K_PORT:
		if (!chars_in(v, ""))
			return false;
		n = strtoul(v, &end, 10);
		return !*end && n >= 1 && n <= 65535;
	case K_PATH:
		return path_ok(v);
	case K_BUS_NAME:
		return strlen(v) <= 255 && chars_in(v, "._-");
	case K_BUS_TYPE:
		return !strcmp(v, "system") || !strcmp(v, "session");
	}
	return false;
}

/* Check "k=v[,k=v...]" against the transport's keys; each key at most once
 * (the TCTI keeps the last, which would make the checked one moot).  The
 * value of path=, if any, is copied to path, and *path_at is its offset in
 * conf (else path is ""). */
static int conf_check(struct ocikp_ctx *ctx, const char *opt, const struct transport *tr,
		      const char *conf, char path[PATH_MAX], size_t *path_at)
{
	char copy[512], *item, *save = NULL, *eq;
	unsigned seen = 0;
	size_t i;

	path[0] = '\0';
	if (strlen(conf) >= sizeof(copy) || conf[0] == ',' || conf[strlen(conf) - 1] == ',' || strstr(conf, ",,")) {
		ocikp_errorf(ctx, "%s: %s: malformed settings '%.60s'", opt, tr->name, conf);
		return OCIKP_CONFIG;
	}
	strcpy(copy, conf);
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		for (i = 0; tr->keys[i].name && strcmp(tr->keys[i].name, item); i++)
			;
		if (!eq || !tr->keys[i].name || (seen & (1u << i)) || !value_ok(tr->keys[i].kind, eq + 1)) {
			ocikp_errorf(ctx, "%s: %s: setting '%.40s' is not allowed (keys: %s, "
				     "each once, plain values)", opt, tr->name, item, tr->keys_text);
			return OCIKP_CONFIG;
		}
		seen |= 1u << i;
		if (tr->keys[i].kind == K_PATH) {
			snprintf(path, PATH_MAX, "%s", eq + 1);	/* path_ok: shorter */
			*path_at = (size_t)(eq + 1 - copy);
		}
	}
	return OCIKP_OK;
}

/* ---- checking the device or socket ---- */

static bool owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Every directory from / down to dir (canonical): root's or the caller's,
 * and not writable by others unless sticky and root's (/tmp), where only
 * an entry's owner can rename it. */
static int dir_chain_ok(struct ocikp_ctx *ctx, const char *opt, const char *dir)
{
	char path[PATH_MAX], *slash;
	struct stat st;

	snprintf(path, sizeof(path), "%s", dir);
	for (;;) {
		const char *p = path[0] ? path : "/";
		if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
			ocikp_errorf(ctx, "%s: %s: not a directory", opt, p);
			return OCIKP_CONFIG;
		}
		if (!owner_ok(st.st_uid) ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !((st.st_mode & S_ISVTX) && st.st_uid == 0))) {
			ocikp_errorf(ctx, "%s: directory %s is owned by uid %u with mode %03o: "
				     "others could replace the TPM there", opt, p, (unsigned)st.st_uid,
				     (unsigned)(st.st_mode & 07777));
			return OCIKP_CONFIG;
		}
		if (!path[0])
			return OCIKP_OK;
		slash = strrchr(path, '/');
		*slash = '\0';
	}
}

/* A character device or a unix socket, owned by root or the caller; group
 * access is fine (/dev/tpmrm0 is root:tss 0660), but a node writable by
 * everyone must be root's.  Its type goes to *type. */
static int node_ok(struct ocikp_ctx *ctx, const char *opt, const char *path, mode_t want,
		   mode_t *type)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return OCIKP_UNAVAILABLE;	/* the caller reports it as "no TPM" */
	*type = st.st_mode & S_IFMT;
	if ((st.st_mode & S_IFMT) != want && !(want == 0 && (S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)))) {
		ocikp_errorf(ctx, "%s: %s is not a %s", opt, path,
			     want == S_IFCHR ? "character device" : want == S_IFSOCK ? "unix socket"
									   : "character device or unix socket");
		return OCIKP_CONFIG;
	}
	if (!owner_ok(st.st_uid)) {
		ocikp_errorf(ctx, "%s: %s is owned by uid %u, not root or the caller", opt, path,
			     (unsigned)st.st_uid);
		return OCIKP_CONFIG;
	}
	if ((st.st_mode & S_IWOTH) && st.st_uid != 0) {
		ocikp_errorf(ctx, "%s: %s is writable by others (mode %03o) and not root's", opt, path,
			     (unsigned)(st.st_mode & 0777));
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* Resolve path, check its directories and the node itself (want: S_IFCHR,
 * S_IFSOCK, or 0 for either); the canonical path goes to canon. */
static int path_check(struct ocikp_ctx *ctx, const char *opt, const char *label, const char *path,
		      mode_t want, char canon[PATH_MAX], mode_t *type)
{
	char dir[PATH_MAX];
	mode_t got = 0;
	int st_rc;

	if (!realpath(path, canon)) {
		ocikp_errorf(ctx, "no TPM at TCTI '%s': %s", label, strerror(errno));
		return OCIKP_UNAVAILABLE;
	}
	snprintf(dir, sizeof(dir), "%s", canon);
	*strrchr(dir, '/') = '\0';
	st_rc = dir_chain_ok(ctx, opt, dir);
	if (st_rc == OCIKP_OK)
		st_rc = node_ok(ctx, opt, canon, want, &got);
	if (st_rc == OCIKP_UNAVAILABLE)
		ocikp_errorf(ctx, "no TPM at TCTI '%s': %s", label, strerror(errno));
	if (type)
		*type = got;
	return st_rc;
}

/* A swtpm or mssim unix socket: the TCTI also connects to path ".ctrl". */
static int socket_pair_check(struct ocikp_ctx *ctx, const char *opt, const char *label,
			     const char *canon)
{
	char ctrl[PATH_MAX + 8];
	mode_t type;

	snprintf(ctrl, sizeof(ctrl), "%s.ctrl", canon);
	switch (node_ok(ctx, opt, ctrl, S_IFSOCK, &type)) {
	case OCIKP_OK:
		return OCIKP_OK;
	case OCIKP_UNAVAILABLE:
		ocikp_errorf(ctx, "no TPM at TCTI '%s': %s: %s (the swtpm --ctrl socket)", label, ctrl,
			     strerror(errno));
		return OCIKP_UNAVAILABLE;
	default:
		return OCIKP_CONFIG;
	}
}

/* ---- choosing the transport ---- */

struct choice {
	const struct transport *tr;
	char conf[PATH_MAX + 16];	/* what the TCTI gets */
};

/* --tpmPath=: a TPM device, or a simulator's unix socket as the other
 * provider accepts it (swtpm --server type=unixio), which tpm2-tss reaches
 * through the swtpm TCTI and its ".ctrl" companion. */
static int choose_tpm_path(struct ocikp_ctx *ctx, const char *path, struct choice *c,
			   char *label, size_t label_len)
{
	const char *opt = "tpm.tpm_path";
	char canon[PATH_MAX];
	mode_t type = 0;
	int rc;

	snprintf(label, label_len, "device:%s", path);
	if (!path_ok(path)) {
		ocikp_errorf(ctx, "%s: '%.60s' is not an absolute path of plain characters", opt, path);
		return OCIKP_CONFIG;
	}
	rc = path_check(ctx, opt, label, path, 0, canon, &type);
	if (rc != OCIKP_OK)
		return rc;
	if (type == S_IFSOCK) {
		c->tr = &transports[1];
		snprintf(c->conf, sizeof(c->conf), "path=%s", canon);
		snprintf(label, label_len, "swtpm:%s", c->conf);
		return socket_pair_check(ctx, opt, label, canon);
	}
	c->tr = &transports[0];
	snprintf(c->conf, sizeof(c->conf), "%s", canon);
	return OCIKP_OK;
}

static int choose_tcti(struct ocikp_ctx *ctx, const char *value, struct choice *c, char *label,
		       size_t label_len)
{
	const char *opt = "tpm.tcti", *colon = strchr(value, ':'), *rest;
	size_t n = colon ? (size_t)(colon - value) : strlen(value), i, at = 0;
	char conf[512], path[PATH_MAX], canon[PATH_MAX];
	int rc;

	snprintf(label, label_len, "%s", value);
	c->tr = NULL;
	for (i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (strlen(transports[i].name) == n && !strncmp(transports[i].name, value, n))
			c->tr = &transports[i];
	if (!c->tr) {
		ocikp_errorf(ctx, "%s: '%.*s' is not an allowed TCTI; use " ALLOWED, opt,
			     (int)(n > 40 ? 40 : n), value);
		return OCIKP_CONFIG;
	}
	if (colon && strlen(colon + 1) >= sizeof(conf)) {
		ocikp_errorf(ctx, "%s: settings too long", opt);
		return OCIKP_CONFIG;
	}
	snprintf(conf, sizeof(conf), "%s", colon ? colon + 1 : "");
	if (!c->tr->keys) {	/* device:PATH */
		if (!conf[0])
			snprintf(conf, sizeof(conf), "%s", DEFAULT_DEVICE);
		if (!path_ok(conf)) {
			ocikp_errorf(ctx, "%s: device: '%.60s' is not an absolute path of plain characters",
				     opt, conf);
			return OCIKP_CONFIG;
		}
		rc = path_check(ctx, opt, label, conf, S_IFCHR, canon, NULL);
		snprintf(c->conf, sizeof(c->conf), "%s", canon);
		return rc;
	}
	snprintf(c->conf, sizeof(c->conf), "%s", conf);
	if (!conf[0])
		return OCIKP_OK;	/* the TCTI's default: localhost:2321 */
	rc = conf_check(ctx, opt, c->tr, conf, path, &at);
	if (rc != OCIKP_OK || !path[0])
		return rc;
	rc = path_check(ctx, opt, label, path, S_IFSOCK, canon, NULL);
	if (rc == OCIKP_OK)
		rc = socket_pair_check(ctx, opt, label, canon);
	if (rc != OCIKP_OK)
		return rc;
	/* the same settings, with the path we checked in place of the one given */
	rest = conf + at + strlen(path);
	if (at + strlen(canon) + strlen(rest) >= sizeof(c->conf)) {
		ocikp_errorf(ctx, "%s: path too long", opt);
		return OCIKP_CONFIG;
	}
	snprintf(c->conf + at, sizeof(c->conf) - at, "%s%s", canon, rest);
	return OCIKP_OK;
}

/* Transports that serve one client at a time: a swtpm or mssim simulator
 * takes the next connection only when this one closes, and /dev/tpm0 (no
 * resource manager) opens once.  /dev/tpmrm* and tabrmd are shared. */
static bool single_client(const struct choice *c)
{
	const char *base;

	if (c->tr == &transports[0]) {
		base = strrchr(c->conf, '/');
		return !(base && !strncmp(base + 1, "tpmrm", 5));
	}
	return c->tr != &transports[3];
}

/* The TCTI's library stays mapped once loaded: a transport serving one
 * client at a time is reopened for every call (tcti_resume), and the
 * loader's dlclose at each release would unmap it, so that each call
 * mapped and relocated it again.  The flag outlives this handle. */
static void keep_mapped(const char *soname)
{
	void *h = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);

	if (h)
		dlclose(h);
}

/* Choose and check the transport, then load its TCTI.  Run again for each
 * reconnection: the device or socket is checked every time it is opened. */
static int inner_open(struct ocikp_ctx *ctx, TSS2_TCTI_CONTEXT **inner, bool *exclusive,
		      char *label, size_t label_len)
{
	const char *path = ocikp_conf(ctx, "tpm_path"), *value = ocikp_conf(ctx, "tcti");
	struct choice c;
	TSS2_RC trc;
	int rc;

	*inner = NULL;
	if (path)	/* --tpmPath= of ocicrypt-tpm-keyprovider */
		rc = choose_tpm_path(ctx, path, &c, label, label_len);
	else
		rc = choose_tcti(ctx, value ? value : "device:" DEFAULT_DEVICE, &c, label, label_len);
	if (rc != OCIKP_OK)
		return rc;
	/* tpm2-tss logs to stderr by default; ocikp reports one line itself. */
	setenv("TSS2_LOG", "all+NONE", 0);
	trc = Tss2_TctiLdr_Initialize_Ex(c.tr->soname, c.conf[0] ? c.conf : NULL, inner);
	if (trc != TSS2_RC_SUCCESS) {
		*inner = NULL;
		ocikp_errorf(ctx, "no TPM at TCTI '%s': %s", label, Tss2_RC_Decode(trc));
		return OCIKP_UNAVAILABLE;
	}
	*exclusive = single_client(&c);
	keep_mapped(c.tr->soname);
	return OCIKP_OK;
}

int tcti_open(struct ocikp_ctx *ctx, TSS2_TCTI_CONTEXT **out, char *label, size_t label_len)
{
	struct counting *cnt;
	TSS2_TCTI_CONTEXT *inner = NULL;
	bool exclusive = true;
	int rc;

	*out = NULL;
	rc = inner_open(ctx, &inner, &exclusive, label, label_len);
	if (rc != OCIKP_OK)
		return rc;
	cnt = calloc(1, sizeof(*cnt));
	if (!cnt) {
		Tss2_TctiLdr_Finalize(&inner);
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	cnt->common.v1.magic = TSS2_TCTI_MAGIC(inner);
	cnt->common.v1.version = 2;
	cnt->common.v1.transmit = c_transmit;
	cnt->common.v1.receive = c_receive;
	cnt->common.v1.finalize = c_finalize;
	cnt->common.v1.cancel = c_cancel;
	cnt->common.v1.getPollHandles = c_poll_handles;
	cnt->common.v1.setLocality = c_set_locality;
	cnt->common.makeSticky = c_make_sticky;
	cnt->inner = inner;
	cnt->exclusive = exclusive;
	cnt->ctx = ctx;
	*out = (TSS2_TCTI_CONTEXT *)cnt;
	return OCIKP_OK;
}

int tcti_resume(struct ocikp_ctx *ctx, TSS2_TCTI_CONTEXT *t)
{
	struct counting *c = counting_of(t);
	char label[512];

	tcti_bind(t, ctx);
	if (c->inner)
		return OCIKP_OK;
	return inner_open(ctx, &c->inner, &c->exclusive, label, sizeof(label));
}

bool tcti_exclusive(TSS2_TCTI_CONTEXT *t)
{
	return t && counting_of(t)->exclusive;
}

void tcti_release(TSS2_TCTI_CONTEXT *t)
{
	if (!t)
		return;
	tcti_bind(t, NULL);
	if (counting_of(t)->exclusive && counting_of(t)->inner)
		Tss2_TctiLdr_Finalize(&counting_of(t)->inner);
}

void tcti_bind(TSS2_TCTI_CONTEXT *t, struct ocikp_ctx *ctx)
{
	if (!t)
		return;
	counting_of(t)->ctx = ctx;
	counting_of(t)->timed_out = false;
}

bool tcti_timed_out(TSS2_TCTI_CONTEXT *t)
{
	return t && counting_of(t)->timed_out;
}

unsigned long tcti_commands(TSS2_TCTI_CONTEXT *t)
{
	return t ? counting_of(t)->commands : 0;
}

void tcti_close(TSS2_TCTI_CONTEXT **t)
{
	if (!*t)
		return;
	if (counting_of(*t)->inner)
		Tss2_TctiLdr_Finalize(&counting_of(*t)->inner);
	free(*t);
	*t = NULL;
}
