/*
 * gRPC's own pieces on top of HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): status
 * codes, grpc-timeout, grpc-message encoding, the method path and the
 * length-prefixed protobuf messages.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "ocikpd.h"
#include "keyprovider.pb-c.h"

int grpc_code_of(int status)
{
	switch (status) {
	case OCIKP_OK: return GRPC_OK;
	case OCIKP_BAD_INPUT: return GRPC_INVALID_ARGUMENT;
	/* no key on this machine is the key's absence; a key that is here
	 * but refuses (tag, PCR policy) is a refusal */
	case OCIKP_NOT_MINE: return GRPC_NOT_FOUND;
	case OCIKP_WRONG_KEY: return GRPC_PERMISSION_DENIED;
	case OCIKP_PERMISSION: return GRPC_PERMISSION_DENIED;	/* the caller may not */
	case OCIKP_UNAVAILABLE: return GRPC_UNAVAILABLE;
	case OCIKP_CONFIG: return GRPC_FAILED_PRECONDITION;
	default: return GRPC_INTERNAL;
	}
}

const char *grpc_code_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
	};

	return code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])) ? names[code]
									: "UNKNOWN";
}

/* At most 8 digits and one unit: H M S m u n. */
long grpc_timeout_ms(const char *v, size_t len)
{
	long long n = 0, ms;
	size_t i;

	if (len < 2 || len > 9)
		return -1;
	for (i = 0; i < len - 1; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	switch (v[len - 1]) {
	case 'H': ms = n * 3600000; break;
	case 'M': ms = n * 60000; break;
	case 'S': ms = n * 1000; break;
	case 'm': ms = n; break;
	case 'u': ms = n / 1000; break;
	case 'n': ms = n / 1000000; break;
	default: return -1;
	}
	return ms < 1 ? 1 : (long)ms;	/* a deadline already due is still a deadline */
}

void grpc_message_encode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	const unsigned char *s;

	if (!size)
		return;
	for (s = (const unsigned char *)in; *s && o + 4 <= size; s++) {
		if (*s >= 0x20 && *s <= 0x7e && *s != '%') {
			out[o++] = (char)*s;
		} else {
			out[o++] = '%';
			out[o++] = hex[*s >> 4];
			out[o++] = hex[*s & 15];
		}
	}
	out[o] = '\0';
}

int grpc_method(const char *path, size_t len)
{
	static const char wrap[] = "/keyprovider.KeyProviderService/WrapKey";
	static const char unwrap[] = "/keyprovider.KeyProviderService/UnWrapKey";

	if (len == sizeof(wrap) - 1 && !memcmp(path, wrap, len))
		return OP_WRAP;
	if (len == sizeof(unwrap) - 1 && !memcmp(path, unwrap, len))
		return OP_UNWRAP;
	return -1;
}

/* protobuf-c copies the bytes field: onto the cleansing allocator, since
 * on unwrap it may hold decryption keys and on wrap the layer key. */
static void *pb_alloc(void *data, size_t n)
{
	(void)data;
	return secure_malloc(n ? n : 1);
}

static void pb_free(void *data, void *p)
{
	(void)data;
	secure_free(p);
}

static ProtobufCAllocator pb_allocator = { pb_alloc, pb_free, NULL };

/* OCIKP_BAD_INPUT when it is not the message. */
int grpc_unpack(const unsigned char *msg, size_t len, struct ocikp_buf *json)
{
	Keyprovider__KeyProviderKeyWrapProtocolInput *in;
	int rc;

	in = keyprovider__key_provider_key_wrap_protocol_input__unpack(&pb_allocator, len, msg);
	if (!in)
		return OCIKP_BAD_INPUT;
	rc = buf_append(json, in->keyproviderkeywrapprotocolinput.data,
			in->keyproviderkeywrapprotocolinput.len);
	keyprovider__key_provider_key_wrap_protocol_input__free_unpacked(in, &pb_allocator);
	return rc;
}

int grpc_pack(const struct ocikp_buf *json, struct ocikp_buf *out)
{
	Keyprovider__KeyProviderKeyWrapProtocolOutput msg =
		KEYPROVIDER__KEY_PROVIDER_KEY_WRAP_PROTOCOL_OUTPUT__INIT;
	size_t n;
	uint32_t be;
	unsigned char *p;

	msg.keyproviderkeywrapprotocoloutput.data = json->data;
	msg.keyproviderkeywrapprotocoloutput.len = json->len;
	n = keyprovider__key_provider_key_wrap_protocol_output__get_packed_size(&msg);
	p = buf_extend(out, GRPC_PREFIX + n);
	if (!p)
		return OCIKP_INTERNAL;
	p[0] = 0;	/* not compressed */
	be = htonl((uint32_t)n);
	memcpy(p + 1, &be, 4);
	keyprovider__key_provider_key_wrap_protocol_output__pack(&msg, p + GRPC_PREFIX);
	return OCIKP_OK;
}
