/*
 * A fixed RSA-2048 private key for the JWE fuzz targets (jwe, kbs_jwe):
 * test data only, fixed so that a crash replays with the same key.
 */
#ifndef OCIKP_FUZZ_FIXED_RSA_H
#define OCIKP_FUZZ_FIXED_RSA_H

static const char rsa_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCgyyvOkZuVH9GI\n"
	"iuJUcCbVsCN4n8auO0SP+N1b3xYtAtPPVcLIwMXBP0Uv/CvSfu5YX+DattzOZ1sL\n"
	"Q8wMecHbtWABIl0wmwRz2BRwdomvL2afgf2i2yNLcYt4OUjhTWGNvAYKOa10RIHe\n"
	"Ev5F3dwzhvw5YyYaz94NgofoozSKWIwWLVDOhksCYwngllHAAjSoHOlB6SPYkVde\n"
	"DO0TtT24A0H5aUKdNt79tfiGO3Q8WkqlpbJZfLGAMHcKAvCRJ0AjfTNW4HDC2sFL\n"
	"R+TqsxCFsSxEmXWoDIDPCdl4S9xIUjNIEdHslAC6Cl+oZeqW/EyN21ApNv6w4kQT\n"
	"ZYz/hbbPAgMBAAECggEADUlsp8epcxOrhVxwomiYFO1WqQeO6+PS4RC//fD7zKFg\n"
	"rk/YZi1jyfm39mSgnGbHvD7D/l7A9T9eKxqhmGBRUB33PnDAAZ21qvruiXKKIxNI\n"
	"KCMeOeBg1MGftEILjy6NQqCIYTzt498rWhX4s/5GzW04l2dlhS6rGzOvll4yH8Ja\n"
	"ueGPnDRE+eLt6RFfbZTjAAxvYiSdwaWAbUDrpF4qz/OkI+AIo9V7qQ79pHRU89kQ\n"
	"qy3v8gDU1QRD0y164igR8u5bt1gh7MkhAVgChcgOEXNRZ6/nSSPSFtO/ihM4kkBj\n"
	"ytEhoj5eoTT1+yq1JhPilzeup5RQ0ARoT4esQt4e/QKBgQDeJizyzsnUCxfzS2QI\n"
	"5WtwXoAOSGQNYSdP3+JSqINx4ogYaEmVwf3+DoWWPH/Pjc3ss9ML9CyKz7JAyQXB\n"
	"4wUDzl50RbF9+NXBb2HkpkeVdFngEkyIvLG0BzoWDFuseTLDyP+fFa1SBAczK6Iw\n"
	"JuIWnpxDRdrcIVFZTZsNjf52RQKBgQC5S5OqkQ4eOsc1sA6YOak/AgvgUAz/q0he\n"
	"S5fIPCsNLnLcoaMQ9eCrfd8dRh4vgqfazSKOktin7/9740gzHgcw9q4paz5Ab9KS\n"
	"BkDQ+1WHtnFf9LDb8l6YLwl9Ctp7a+a7JR3aeIvtP3NdRAeSaK3bHugrxJBT/cUK\n"
	"02fyN6BEAwKBgQCkDNMSt+zJ3ytfqqQEAc/2moK8iW8BhmZukOnkmrb/Cgfw5kq5\n"
	"AhpcXEMAcEr+bjzM+Pr4j+e41qpPN2Q+CzUv211bRgBOA81u3J8RKE4iq1qXo0vL\n"
	"inU8ej3F/HhShOodNTi4NVzZ/UmH20gZgQ1jINxKvbJi72PQrAO93cc1dQKBgE1/\n"
	"UIlcFb2K89p+gfwk0aZqorD0ihs8dg4KK7cxgwgGTz/70om7bHYNNQ23T9SrHq0i\n"
	"cruSq07Bz+buzjmi63sNERZ9phGpMzajquQ82i7inVR2sKmtGucndR55NZu9K0lG\n"
	"YtAG7u8RRJzTYR9Y7K3ipVP46CxYzNqURLtHjJ4lAoGBAJfJnil2y8R0B1I7sHs1\n"
	"7+LoBb7d0N6UgMAe+ydyYE7EOkCZlfH30kNKBijddwtCTSIlxCbicMDHNnDAsDVa\n"
	"sehF+HNBc7GyI29I5O2Ys2Wb9seIBjVSOf4TrErvHcAvMHY9RV+vFiD/F9PWuusJ\n"
	"g+xhekD/N8ill3uCX982MsUC\n"
	"-----END PRIVATE KEY-----\n";

#endif
