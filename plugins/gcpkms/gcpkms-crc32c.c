/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Cloud
 * KMS puts on every plaintext and ciphertext.  Neither OpenSSL nor libcurl
 * offers it (zlib's crc32 is the other polynomial), and the data is at most
 * a few hundred bytes per exec, so a byte-wise table is plenty.
 */
#include "gcpkms.h"

static uint32_t table[256];

static void table_init(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
}

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;

	/* Idempotent and race-free in effect: every thread writes the same
	 * values, and table[255] is written last. */
	if (table[255] == 0)
		table_init();
	crc = ~crc;
	while (n--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
