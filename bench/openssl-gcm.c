/* The second baseline for bench/exec.sh: a program that does only what the
 * sample backend must do with OpenSSL 3 (a random nonce and one AES-256-GCM
 * seal of 32 bytes).  ocikp cannot cost less than this, whatever the host
 * does, as long as the backend uses OpenSSL. */
#include <openssl/evp.h>
#include <openssl/rand.h>

int main(void)
{
	unsigned char key[32] = { 0 }, nonce[12], out[48], tag[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, ok;

	ok = c && RAND_bytes(nonce, sizeof(nonce)) == 1 &&
	     EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	     EVP_EncryptUpdate(c, out, &n, key, sizeof(key)) == 1 &&
	     EVP_EncryptFinal_ex(c, out + n, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : 1;
}
