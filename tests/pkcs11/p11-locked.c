/*
 * A PKCS#11 module for tests/pkcs11/softhsm.sh: SoftHSM (the library named
 * by $OCIKP_TEST_P11_REAL) with every C_Login answered CKR_PIN_LOCKED, as a
 * token does after too many wrong PINs.  SoftHSM itself never locks.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST interposed;

static CK_RV locked_login(CK_SESSION_HANDLE s, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
			  CK_ULONG len)
{
	(void)s, (void)type, (void)pin, (void)len;
	return CKR_PIN_LOCKED;
}

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	const char *real = getenv("OCIKP_TEST_P11_REAL");
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR fl;
	void *h;

	if (!out || !real || !(h = dlopen(real, RTLD_NOW | RTLD_LOCAL)) ||
	    !(get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")) || get(&fl) != CKR_OK)
		return CKR_GENERAL_ERROR;
	interposed = *fl;
	interposed.C_Login = locked_login;
	*out = &interposed;
	return CKR_OK;
}
