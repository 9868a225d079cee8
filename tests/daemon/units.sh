#!/usr/bin/env bash
# ocikpd's systemd units and sysusers.d file: systemd's own checks of them
# (verify, the offline security score, sysusers in a scratch root), the
# sandbox lines the unit must keep, and that ocikpd's libraries stay out of
# the ocikp binary.
. "$top_srcdir/tests/lib/common.sh"

command -v systemd-analyze > /dev/null ||
	{ echo "1..0 # SKIP systemd-analyze not found (package systemd)"; exit 0; }

src="$top_srcdir/daemon"
U="$T_TMP/units"
mkdir "$U"
# verify wants ExecStart= to exist: the built ocikpd stands in for the
# installed one; the unit names must stay (the socket starts ocikpd.service).
bin="${abs_top_builddir:-$top_srcdir}/ocikpd"
[ -x "$bin" ] || { t_diag "no built ocikpd; /bin/true stands in"; bin=/bin/true; }
cp "$src/ocikpd.socket" "$U/"
sed "s|^ExecStart=/usr/bin/ocikpd\$|ExecStart=$bin|" "$src/ocikpd.service" > "$U/ocikpd.service"
grep -qx "ExecStart=$bin" "$U/ocikpd.service"
t_ok $? "the service runs /usr/bin/ocikpd, with no arguments (the socket comes from systemd)"

# verify exits 0 on unknown keys and bad values, printing a line naming the
# unit: any line about our units fails the test.
out=$(cd "$U" && systemd-analyze verify --man=no ./ocikpd.socket ./ocikpd.service 2>&1)
rc=$?
bad=$(printf '%s\n' "$out" | grep 'ocikpd\.')
[ $rc -eq 0 ] && [ -z "$bad" ]
t_ok $? "systemd-analyze verify: both units clean"
[ -z "$bad" ] && [ $rc -eq 0 ] || t_diag "exit $rc" "$out"

# The score of every sandbox setting together (0 best, 100 worst); what
# stays is root, the network and /dev/tpmrm0, all needed (see the unit).
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	out=$(cd "$U" && systemd-analyze security --offline=yes --threshold=25 ./ocikpd.service 2>&1)
	rc=$?
	t_ok $rc "systemd-analyze security: exposure at most 2.5 ($(printf '%s\n' "$out" | grep -o 'exposure level.*'))"
else
	t_skip "systemd-analyze security: exposure at most 2.5" "no --offline in this systemd"
fi

# The lines the sandbox rests on, each exactly so.
for l in Type=simple 'ExecReload=/bin/kill -HUP $MAINPID' Requires=ocikpd.socket After=ocikpd.socket \
	 KillSignal=SIGTERM TimeoutStopSec=90 \
	 ProtectSystem=strict ProtectHome=read-only NoNewPrivileges=yes PrivateTmp=yes \
	 PrivateNetwork=no DevicePolicy=closed 'DeviceAllow=/dev/tpmrm0 rw' \
	 RuntimeDirectory=ocikp RuntimeDirectoryPreserve=yes \
	 ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	 ProtectControlGroups=yes 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	 RestrictNamespaces=yes LockPersonality=yes MemoryDenyWriteExecute=yes RestrictRealtime=yes \
	 SystemCallArchitectures=native SystemCallFilter=@system-service CapabilityBoundingSet=; do
	grep -qxF -- "$l" "$src/ocikpd.service"
	t_ok $? "ocikpd.service: $l"
done
! grep -qE '^(User|DynamicUser|PrivateDevices|PrivateUsers|SupplementaryGroups)=' "$src/ocikpd.service"
t_ok $? "ocikpd.service: root without capabilities, sees /dev/tpmrm0, callers' uids as they are"

for l in ListenStream=/run/ocikp/grpc.sock SocketMode=0660 SocketGroup=ocikp DirectoryMode=0755 \
	 Accept=no WantedBy=sockets.target; do
	grep -qxF -- "$l" "$src/ocikpd.socket"
	t_ok $? "ocikpd.socket: $l"
done

# The group the socket belongs to, made by systemd-sysusers in a scratch root.
if command -v systemd-sysusers > /dev/null; then
	R="$T_TMP/root"
	mkdir -p "$R/etc"
	out=$(systemd-sysusers --root="$R" "$src/ocikp.sysusers" 2>&1)
	rc=$?
	[ $rc -eq 0 ] && grep -q '^ocikp:x:[0-9]*:$' "$R/etc/group" && [ ! -s "$R/etc/passwd" ]
	t_ok $? "sysusers.d: creates the group ocikp and no user"
	[ $rc -eq 0 ] || t_diag "$out"
else
	t_skip "sysusers.d: creates the group ocikp and no user" "systemd-sysusers not found"
fi

# What make installs: the service's ExecStart follows --bindir; the file
# names are those systemd and sysusers.d expect.
b="${abs_top_builddir:-}/daemon/units"
if [ -f "$b/ocikpd.service" ]; then
	bindir=$(sed -n 's/^bindir = //p' "$abs_top_builddir/Makefile")
	prefix=$(sed -n 's/^prefix = //p' "$abs_top_builddir/Makefile")
	exec_prefix=$(sed -n 's/^exec_prefix = //p' "$abs_top_builddir/Makefile")
	exec_prefix=${exec_prefix//'${prefix}'/$prefix}
	bindir=${bindir//'${exec_prefix}'/$exec_prefix}
	grep -qxF "ExecStart=$bindir/ocikpd" "$b/ocikpd.service" &&
		diff <(grep -v '^ExecStart=' "$src/ocikpd.service") <(grep -v '^ExecStart=' "$b/ocikpd.service") > /dev/null &&
		cmp -s "$src/ocikpd.socket" "$b/ocikpd.socket" && cmp -s "$src/ocikp.sysusers" "$b/ocikp.conf"
	t_ok $? "installed units: ExecStart=$bindir/ocikpd, the rest as in the tree"
else
	t_skip "installed units: ExecStart follows bindir" "not built (daemon/units/)"
fi

# ocikpd's libraries are its own: the ocikp binary does not link them.
o="${abs_top_builddir:-}/ocikp"
if [ -f "$o" ] && command -v readelf > /dev/null; then
	libs=$(readelf -d "$o" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -E 'nghttp2|protobuf-c|libsystemd' | tr '\n' ' ')
	[ -z "$libs" ]
	t_ok $? "ocikp links none of ocikpd's libraries${libs:+ ($libs)}"
else
	t_skip "ocikp links none of ocikpd's libraries" "no built ocikp or no readelf"
fi
t_done
