/* CRC32C against the published vectors of RFC 3720 appendix B.4 (the CRC
 * there is shown in transmission order, least significant byte first) and
 * the "123456789" check value of the CRC catalogue. */
#include <string.h>
#include "tap.h"
#include "gcpkms.h"

static const unsigned char read10_pdu[48] = {
	0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
	0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
};

int main(void)
{
	unsigned char b[32];
	int i;

	memset(b, 0, sizeof(b));
	ok(crc32c(0, b, 32) == 0x8a9136aau, "32 bytes of zeroes: aa 36 91 8a");
	memset(b, 0xff, sizeof(b));
	ok(crc32c(0, b, 32) == 0x62a8ab43u, "32 bytes of ones: 43 ab a8 62");
	for (i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	ok(crc32c(0, b, 32) == 0x46dd794eu, "32 incrementing bytes: 4e 79 dd 46");
	for (i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	ok(crc32c(0, b, 32) == 0x113fdb5cu, "32 decrementing bytes: 5c db 3f 11");
	ok(crc32c(0, read10_pdu, sizeof(read10_pdu)) == 0xd9963a56u,
	      "an iSCSI SCSI Read (10) command PDU: 56 3a 96 d9");
	ok(crc32c(0, "123456789", 9) == 0xe3069283u, "check value of \"123456789\"");
	ok(crc32c(crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u,
	      "continuing from a partial CRC gives the same value");
	return tap_done();
}
