/*
 * RFC 3339 date-times, as token and credential answers give their expiry
 * (gcpkms's OAuth answers, AWS's container, IMDS and STS credentials).
 */
#ifndef OCIKP_LIB_RFC3339_H
#define OCIKP_LIB_RFC3339_H

#include <stdbool.h>

/* "2024-05-01T12:00:00Z", "...00.123456Z", "...+02:00" to Unix seconds in
 * *out (fractions dropped, a leap second read as :59); false for anything
 * else, years before 1970 included.  s is a C string. */
bool rfc3339_parse(const char *s, long long *out);

#endif
