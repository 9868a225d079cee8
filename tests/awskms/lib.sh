# The local fake AWS KMS (tests/awskms/fake_aws.py) for the awskms tests.
# Source it after tests/lib/common.sh.
#
# aws_setup      make $T_TMP/aws (CA, server certificate, config.json), start
#                the fake; SKIPs the test without openssl/python3/cryptography,
#                FAILs it when the fake does not start.  Exports:
#   AWS_DIR AWS_HTTPS AWS_HTTP AWS_URL (https://127.0.0.1:PORT)
#   AWS_FAKE_CONTAINER AWS_FAKE_IMDS   ports of the plain http container
#                             credentials and IMDS fakes
#   AWS_AKID AWS_SECRET       long-term keys the fake knows
#   AWS_TAKID AWS_TSECRET AWS_TTOKEN   session credentials it knows
#   AWS_DENIED_AKID           keys it knows that key1 refuses (AccessDenied)
#   AWS_KEY1 AWS_KEY2         key IDs (region us-east-1, account 123456789012);
#                             key1 has alias/ocikp-test
#   AWS_ROLE_WEB AWS_ROLE_WEB2  roles AssumeRoleWithWebIdentity gives for AWS_WEB_TOKEN
#   AWS_ROLE_A                a role AWS_AKID may assume; AWS_ROLE_B one only
#                             AWS_ROLE_A's sessions may; AWS_ROLE_X one AWS_AKID
#                             may with ExternalId AWS_EXTERNAL_ID; AWS_ROLE_NONE
#                             one nobody may
# aws_dropin CONFDIR [LINE...]   a 50-awskms.conf aimed at the fake
# aws_ctl PATH [JSON]            the control port (GET for /_stats)
# aws_stat KIND                  one counter of /_stats
# aws_isolate                    no AWS_* from the caller, an empty HOME, IMDS
#                                off (AWS_EC2_METADATA_DISABLED=true: no probe of
#                                169.254.169.254 from a test)

. "$top_srcdir/tests/lib/fake.sh"

aws_fail() { fake_setup_fail aws "$*"; }
aws_rand() { fake_rand "$@"; }

aws_setup() {
	fake_require
	AWS_DIR="$T_TMP/aws"
	{ mkdir -p "$AWS_DIR" && chmod 700 "$AWS_DIR"; } || aws_fail "mkdir $AWS_DIR"
	fake_server_certs "$AWS_DIR" "ocikp fake AWS test CA" ||
		aws_fail "certificates: $(cat "$AWS_DIR/openssl.err")"
	AWS_AKID=AKIA$(aws_rand 8 | tr a-f A-F)
	AWS_SECRET=$(aws_rand 20)/x+Y
	AWS_TAKID=ASIA$(aws_rand 8 | tr a-f A-F)
	AWS_TSECRET=$(aws_rand 20)
	AWS_TTOKEN="IQoJb3JpZ2luX2VjE$(aws_rand 40)/+="
	AWS_DENIED_AKID=AKIA$(aws_rand 8 | tr a-f A-F)
	AWS_DENIED_SECRET=$(aws_rand 20)
	AWS_KEY1=1234abcd-12ab-34cd-56ef-$(aws_rand 6)
	AWS_KEY2=abcd1234-12ab-34cd-56ef-$(aws_rand 6)
	AWS_WEB_TOKEN="eyJhbGciOiJSUzI1NiJ9.$(aws_rand 30).$(aws_rand 30)"
	AWS_ROLE_WEB=arn:aws:iam::123456789012:role/ocikp-web
	AWS_ROLE_WEB2=arn:aws:iam::123456789012:role/ocikp-web2
	AWS_ROLE_A=arn:aws:iam::123456789012:role/ocikp-a
	AWS_ROLE_B=arn:aws:iam::123456789012:role/ocikp-b
	AWS_ROLE_X=arn:aws:iam::123456789012:role/ocikp-x
	AWS_ROLE_NONE=arn:aws:iam::123456789012:role/ocikp-none
	AWS_EXTERNAL_ID=ext-$(aws_rand 6)
	export AWS_WEB_TOKEN AWS_ROLE_WEB AWS_ROLE_WEB2 AWS_ROLE_A AWS_ROLE_B AWS_ROLE_X AWS_ROLE_NONE AWS_EXTERNAL_ID
	export AWS_DIR AWS_AKID AWS_SECRET AWS_TAKID AWS_TSECRET AWS_TTOKEN AWS_DENIED_AKID \
		AWS_DENIED_SECRET AWS_KEY1 AWS_KEY2
	python3 -c 'import json, os
E = os.environ
c = {"users": {E["AWS_AKID"]: {"secret": E["AWS_SECRET"]},
               E["AWS_TAKID"]: {"secret": E["AWS_TSECRET"], "token": E["AWS_TTOKEN"]},
               E["AWS_DENIED_AKID"]: {"secret": E["AWS_DENIED_SECRET"]}},
     "keys": [{"id": E["AWS_KEY1"], "region": "us-east-1", "account": "123456789012",
               "aliases": ["alias/ocikp-test"], "material": os.urandom(32).hex(),
               "deny": [E["AWS_DENIED_AKID"]]},
              {"id": E["AWS_KEY2"], "region": "us-east-1", "account": "123456789012",
               "material": os.urandom(32).hex()}],
     "roles": {E["AWS_ROLE_WEB"]: {"web_tokens": [E["AWS_WEB_TOKEN"]]},
               E["AWS_ROLE_WEB2"]: {"web_tokens": [E["AWS_WEB_TOKEN"]]},
               E["AWS_ROLE_A"]: {"trust": [E["AWS_AKID"]]},
               E["AWS_ROLE_B"]: {"trust": [E["AWS_ROLE_A"]]},
               E["AWS_ROLE_X"]: {"trust": [E["AWS_AKID"]], "external_id": E["AWS_EXTERNAL_ID"]},
               E["AWS_ROLE_NONE"]: {"trust": []}}}
with open(E["AWS_DIR"] + "/config.json", "w") as f:
    json.dump(c, f)' || aws_fail "config.json"
	fake_start "$AWS_DIR" "$top_srcdir/tests/awskms/fake_aws.py" ||
		aws_fail "the fake did not start: $(cat "$AWS_DIR/server.err")"
	AWS_HTTPS=$(fake_port "$AWS_DIR" https)
	AWS_HTTP=$(fake_port "$AWS_DIR" http)
	AWS_URL="https://127.0.0.1:$AWS_HTTPS"
	AWS_FAKE_CONTAINER=$(fake_port "$AWS_DIR" container)
	AWS_FAKE_IMDS=$(fake_port "$AWS_DIR" imds)
	export AWS_HTTPS AWS_HTTP AWS_URL AWS_FAKE_CONTAINER AWS_FAKE_IMDS
}

aws_dropin() {
	local conf=$1 line
	shift
	{
		printf 'backend = awskms\nmodule = ocikp-awskms.so\nschemes = awskms\nopaque_schemes = arn\n'
		printf 'awskms.kms_endpoint = %s\n' "$AWS_URL"
		printf 'awskms.ca_file = %s\n' "$AWS_DIR/ca.pem"
		for line in "$@"; do printf '%s\n' "$line"; done
	} > "$conf/50-awskms.conf"
	chmod 644 "$conf/50-awskms.conf"
}

aws_ctl() {
	case $1 in
	/_stats) fake_ctl "$AWS_HTTP" GET "$1" ;;
	*) fake_ctl "$AWS_HTTP" POST "$1" "${2:-{\}}" ;;
	esac
}
aws_stat() {
	local s
	s=$(aws_ctl /_stats) && fake_num "$s" "$1"
}

# aws_state: STS credentials cached in AWS_CACHE, a private XDG_RUNTIME_DIR
# for a user; root's is /run/ocikp/awskms, which parallel tests share:
# there this test's files (holding keys this fake issued) are listed by
# aws_cache_mine and removed at exit.
aws_state() {
	fake_state_dir AWS_CACHE awskms
	t_at_exit aws_cache_drop
}
aws_cache_mine() {
	local f
	[ -s "$AWS_DIR/issued.log" ] || return 0
	for f in "$AWS_CACHE"/sts-*.json; do
		[ -f "$f" ] && grep -qF -f "$AWS_DIR/issued.log" "$f" 2> /dev/null && echo "$f"
	done
	return 0
}
aws_cache_drop() {
	local f
	for f in $(aws_cache_mine); do rm -f "$f" "${f%.json}.lock"; done
}

aws_isolate() {
	local v
	for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do
		case $v in AWS_DIR | AWS_HTTPS | AWS_HTTP | AWS_URL | AWS_AKID | AWS_SECRET | AWS_TAKID | \
			AWS_TSECRET | AWS_TTOKEN | AWS_DENIED_* | AWS_KEY1 | AWS_KEY2 | AWS_WEB_TOKEN | \
			AWS_ROLE_WEB | AWS_ROLE_WEB2 | AWS_ROLE_A | AWS_ROLE_B | AWS_ROLE_X | AWS_ROLE_NONE | AWS_EXTERNAL_ID | AWS_FAKE_*) ;;
		*) unset "$v" ;;
		esac
	done
	export HOME="$T_TMP/home" AWS_EC2_METADATA_DISABLED=true
	mkdir -p "$HOME"
}
