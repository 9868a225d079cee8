/*
 * Commands for people rather than ocicrypt: list, inspect, and a backend's
 * own subcommands.  Output is collected and printed only on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ocikp.h"

int admin_list(struct host *h, struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	size_t i;
	char **s;

	buf_printf(out, "plugin dir: %s\n", h->plugin_dir);
	buf_printf(out, "drop-in files:%s\n",
		   h->conf.n_files || h->conf.n_masked ? "" : " (none)");
	for (i = 0; i < h->conf.n_files; i++)
		buf_printf(out, "  %s\n", h->conf.files[i]);
	/* A mask silently removes a packaged backend: say so. */
	for (i = 0; i < h->conf.n_masked; i++)
		buf_printf(out, "  masked: %s\n", h->conf.masked[i]);
	buf_printf(out, "backends:\n");
	for (i = 0; i < h->conf.n_backends; i++) {
		const struct conf_backend *cb = &h->conf.backends[i];
		struct backend_ctx probe_ctx;
		struct ocikp_ctx *probe = &probe_ctx.pub;
		struct module m;
		char *path = NULL;

		buf_printf(out, "  %s:", cb->name);
		for (s = cb->schemes; s && *s; s++)
			buf_printf(out, " %s://", *s);
		for (s = cb->opaque_schemes; s && *s; s++)
			buf_printf(out, " %s:", *s);
		host_ctx_init(probe, h, cb->name);
		if (cb->module && loader_resolve(probe, h->plugin_dir, cb->module, &path) == OCIKP_OK)
			buf_printf(out, " -> %s", path);
		free(path);
		if (!cb->enabled) {
			buf_printf(out, " [disabled]");
		} else if (loader_open(probe, h->plugin_dir, cb->module, &m) == OCIKP_OK) {
			buf_printf(out, " [loads: %s %s]", m.desc->name,
				   m.desc->version ? m.desc->version : "");
			loader_close(&m);
		} else {
			buf_printf(out, " [refused: %s]", h->err.msg);
			h->err.msg[0] = '\0';
		}
		buf_printf(out, " (%s)\n", cb->origin);
	}
	(void)ctx;
	return OCIKP_OK;
}

/* The annotation text: an argument, a file, or stdin ("-" or nothing). */
static int inspect_input(struct ocikp_ctx *ctx, const char *arg, struct ocikp_buf *raw)
{
	int fd, rc;

	if (arg && strcmp(arg, "-") != 0 && access(arg, F_OK) != 0)
		return buf_append(raw, arg, strlen(arg));
	fd = arg && strcmp(arg, "-") != 0 ? open(arg, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		err_set(ctx, "inspect: %s: %s", arg, strerror(errno));
		return OCIKP_BAD_INPUT;
	}
	rc = request_read(ctx, fd, raw);
	if (fd > 0)
		close(fd);
	return rc;
}

/* Text from the annotation, printable (text_escape): an attacker writes
 * it, and a newline would forge a line of ours, an escape sequence reach
 * the terminal. */
static void put_text(struct ocikp_buf *out, const char *text, size_t n)
{
	char *p = (char *)buf_extend(out, TEXT_ESCAPE_SIZE(n) - 1);

	if (p)
		out->len -= TEXT_ESCAPE_SIZE(n) - 1 - text_escape(p, TEXT_ESCAPE_SIZE(n), text, n);
}

static void put_string(struct ocikp_buf *out, const char *s)
{
	put_text(out, s, strlen(s));
}

static void describe(struct host *h, const ocikp_json *ann, struct ocikp_buf *out,
		     const char *indent)
{
	const char *url = annotation_key_url(ann);
	char scheme[33];
	const struct conf_backend *cb = NULL;
	size_t i;

	if (url && conf_key_scheme(&h->conf, url, scheme, sizeof(scheme)) != OCIKP_OK)
		strcpy(scheme, strstr(url, "://") ? "?" : "kbs");
	if (url)
		cb = conf_backend_for_scheme(&h->conf, scheme);
	buf_printf(out, "%skey: ", indent);
	if (url)
		put_string(out, url);	/* no NUL: the parser refuses one */
	else
		buf_printf(out, "(none)");
	buf_printf(out, "\n%sscheme: %s, backend: %s\n", indent, url ? scheme : "-",
		   cb ? cb->name : "(none configured)");
	for (i = 0; i < json_object_len(ann); i++) {
		const char *k = json_object_key_at(ann, i);
		const ocikp_json *v = json_object_value_at(ann, i);

		if (json_type(v) == OCIKP_JSON_STRING && json_string(v) == url)
			continue;
		buf_printf(out, "%s", indent);
		put_string(out, k);
		/* Short labels print as they are; anything longer is key
		 * material or ciphertext: its size is enough. */
		if (json_type(v) == OCIKP_JSON_STRING && json_string_len(v) <= 16) {
			buf_printf(out, ": ");
			put_text(out, json_string(v), json_string_len(v));
			buf_printf(out, "\n");
		} else if (json_type(v) == OCIKP_JSON_STRING) {
			buf_printf(out, ": (%zu characters)\n", json_string_len(v));
		} else {
			buf_printf(out, ": (%s)\n",
				   json_type(v) == OCIKP_JSON_OBJECT ? "object" : "value");
		}
	}
}

int admin_inspect(struct host *h, struct ocikp_ctx *ctx, const char *arg, struct ocikp_buf *out)
{
	struct ocikp_buf raw = { 0 }, decoded = { 0 };
	ocikp_json *ann = NULL;
	const ocikp_json *list;
	size_t i, start = 0;
	int rc;

	rc = inspect_input(ctx, arg, &raw);
	while (rc == OCIKP_OK && start < raw.len && strchr(" \t\r\n", raw.data[start]))
		start++;
	while (rc == OCIKP_OK && raw.len > start && strchr(" \t\r\n", raw.data[raw.len - 1]))
		raw.data[--raw.len] = '\0';
	if (rc == OCIKP_OK && raw.data[start] != '{')
		rc = b64_decode(ctx, "annotation", (char *)raw.data + start, raw.len - start, 0,
				&decoded);
	else if (rc == OCIKP_OK)
		rc = buf_append(&decoded, raw.data + start, raw.len - start);
	if (rc == OCIKP_OK)
		rc = json_parse(ctx, "annotation", decoded.data, decoded.len, &ann);
	if (rc == OCIKP_OK && json_type(ann) != OCIKP_JSON_OBJECT) {
		err_set(ctx, "annotation: not a JSON object");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc != OCIKP_OK)
		goto out;
	list = json_get(ann, "recipients");
	if (json_get(ann, "ocikp")) {
		const ocikp_json *v = json_get(ann, "ocikp");

		buf_printf(out, "format: ocikp envelope, version ");
		if (json_type(v) == OCIKP_JSON_NUMBER)
			put_string(out, json_number(v));
		else if (json_type(v) == OCIKP_JSON_STRING)
			put_text(out, json_string(v), json_string_len(v));
		else
			buf_printf(out, "(not a number)");
		buf_printf(out, ", %zu recipient(s)\n", json_array_len(list));
		for (i = 0; i < json_array_len(list); i++) {
			buf_printf(out, "recipient %zu:\n", i + 1);
			describe(h, json_array_at(list, i), out, "  ");
		}
	} else {
		buf_printf(out, "format: native annotation\n");
		describe(h, ann, out, "");
	}
out:
	json_free(ann);
	buf_free(&raw);
	buf_free(&decoded);
	return rc;
}

int admin_backend_command(struct host *h, struct ocikp_ctx *ctx, const char *name,
			  int argc, char *const argv[], struct ocikp_buf *out)
{
	const struct conf_backend *cb = conf_backend_named(&h->conf, name);
	struct backend_ctx *b;
	int rc;

	if (!cb) {
		err_set(ctx, "unknown command or backend '%s' (see ocikp --help)", name);
		return OCIKP_HOST_USAGE;
	}
	rc = backend_open(h, cb, &b);
	if (rc != OCIKP_OK)
		return rc;
	if (!b->mod.desc->command) {
		err_set(&b->pub, "has no admin commands");
		rc = OCIKP_HOST_USAGE;
	} else if (argc < 1) {
		err_set(&b->pub, "missing subcommand; usage: %s",
			b->mod.desc->command_usage ? b->mod.desc->command_usage : "(none)");
		rc = OCIKP_HOST_USAGE;
	} else {
		rc = backend_command(b, argc, argv, out);
	}
	backend_close(b);
	return rc;
}
