#!/bin/bash
# The fake AWS KMS's own strictness (tests/awskms/fake_aws.py), against
# curl's independent SigV4 signer (--aws-sigv4): a request curl signs is
# accepted; the same request with its body, a signed header, the secret, the
# scope or the date changed is refused.  So the fake's verification is AWS's
# algorithm, not a mirror of ocikp's.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/awskms/lib.sh"

t_setup
aws_setup
curl --help all 2> /dev/null | grep -q -- --aws-sigv4 || { echo "1..0 # SKIP curl without --aws-sigv4"; exit 0; }

BODY=$(printf '{"KeyId":"alias/ocikp-test","Plaintext":"%s"}' "$(printf secret | base64)")
# sigcurl USER SIGV4 [CURL-ARGS...]: POST BODY to the fake; prints "STATUS BODY".
sigcurl() {
	local user=$1 sig=$2
	shift 2
	curl -sS --cacert "$AWS_DIR/ca.pem" --aws-sigv4 "$sig" --user "$user" \
		-H "Content-Type: application/x-amz-json-1.1" -H "X-Amz-Target: TrentService.Encrypt" \
		-w ' %{http_code}' "$@" "$AWS_URL/" 2>&1
}

OUT=$(sigcurl "$AWS_AKID:$AWS_SECRET" "aws:amz:us-east-1:kms" -d "$BODY")
case $OUT in *CiphertextBlob*' 200') true ;; *) false ;; esac
t_ok $? "a request curl signs is accepted" || t_diag "$OUT"
OUT=$(sigcurl "$AWS_AKID:x$AWS_SECRET" "aws:amz:us-east-1:kms" -d "$BODY")
case $OUT in *InvalidSignatureException*' 400') true ;; *) false ;; esac
t_ok $? "a wrong secret: InvalidSignatureException" || t_diag "$OUT"
OUT=$(sigcurl "$AWS_AKID:$AWS_SECRET" "aws:amz:us-east-1:s3" -d "$BODY")
case $OUT in *InvalidSignatureException*' 400') true ;; *) false ;; esac
t_ok $? "scope service s3 instead of kms: refused" || t_diag "$OUT"
OUT=$(sigcurl "$AWS_AKID:$AWS_SECRET" "aws:amz:eu-west-1:kms" -d "$BODY")
case $OUT in *NotFoundException*' 400') true ;; *) false ;; esac
t_ok $? "signed for another region: the key is not there" || t_diag "$OUT"
OUT=$(sigcurl "$AWS_AKID:$AWS_SECRET" "aws:amz:us-east-1:kms" -H "X-Amz-Date: 20200101T000000Z" -d "$BODY")
case $OUT in *InvalidSignatureException*'5 minutes'*' 400') true ;; *) false ;; esac
t_ok $? "an x-amz-date more than 5 minutes off: refused" || t_diag "$OUT"
OUT=$(sigcurl "UNKNOWNKEY00:$AWS_SECRET" "aws:amz:us-east-1:kms" -d "$BODY")
case $OUT in *UnrecognizedClientException*' 400') true ;; *) false ;; esac
t_ok $? "an unknown access key: UnrecognizedClientException" || t_diag "$OUT"
# a body changed after signing: curl signs BODY, a proxy swaps it
python3 - "$AWS_DIR" "$AWS_HTTPS" "$AWS_AKID" "$AWS_SECRET" <<'PY'
import hashlib, hmac, http.client, json, ssl, sys, datetime
d, port, akid, secret = sys.argv[1:]
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
def send(body, signed_body, extra=None, token=None):
    t = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = "127.0.0.1:" + port
    hd = {"content-type": "application/x-amz-json-1.1", "host": host, "x-amz-date": t,
          "x-amz-target": "TrentService.Encrypt"}
    names = sorted(hd)
    creq = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (n, hd[n]) for n in names),
                      ";".join(names), hashlib.sha256(signed_body).hexdigest()])
    scope = "%s/us-east-1/kms/aws4_request" % t[:8]
    sts = "\n".join(["AWS4-HMAC-SHA256", t, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for m in (t[:8], "us-east-1", "kms", "aws4_request"):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    hs = {"Content-Type": hd["content-type"], "X-Amz-Date": t, "X-Amz-Target": hd["x-amz-target"],
          "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                           % (akid, scope, ";".join(names), sig)}
    hs.update(extra or {})
    c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx)
    c.request("POST", "/", body=body, headers=hs)
    r = c.getresponse()
    return r.status, r.read().decode()
b = json.dumps({"KeyId": "alias/ocikp-test", "Plaintext": "c2VjcmV0"}).encode()
s, out = send(b, b)
assert s == 200, out
s, out = send(b.replace(b"c2VjcmV0", b"b3RoZXI="), b)
assert s == 400 and "InvalidSignatureException" in out, out
s, out = send(b, b, {"X-Amz-Target": "TrentService.Decrypt"})
assert s == 400 and "InvalidSignatureException" in out, out
s, out = send(b, b, {"X-Amz-Security-Token": "x"})
assert s == 400 and "UnrecognizedClientException" in out, out
PY
t_ok $? "a body or signed header changed after signing, or an unsigned session token: refused"
t_done
