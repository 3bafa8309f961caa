#!/bin/bash
# tests/packaging/deb.sh [DEB]: the Debian package, installed into this
# system and checked as an operator would find it.  TAP.
#
# Builds the .deb (scripts/deb, without its unit tests: they are a tier of
# their own) unless DEB names one, checks it with lintian, installs it
# with dpkg -i, and checks the users, directories, modes, master key and
# store it made, `rotad -n`, what rotad-worker cannot read, the units
# (systemd-analyze verify, and security, whose exposure it prints;
# rotad-siem.service's hardening, and that it is not enabled), the daemon
# and rotad-siem run as their units run them, conffiles over a reinstall,
# remove and purge.
#
# It needs root, and this system is changed while it runs: the package is
# purged at the end, whatever happens, and the users it made removed if
# they were not there before.  A second run waits for the first.
# ROTAD_TEST_LOGS=DIR keeps its logs (the build's, the daemon's, strace's).
#
# systemd is not PID 1 on the test hosts.  The units run under systemd
# all the same: once the package is purged here, this system is booted in
# a container with systemd as its PID 1 (lib.sh's pkg_boot), the package
# installed there (the postinst's start is systemd's), rotad reloaded and
# rotating, rotad-siem enabled, taking its socket, replaced on disk,
# killed, both restarted by an upgrade, and the package purged with both
# running.  Before that, what strace sees is checked here: the installed
# daemon started as the unit starts it (user rotad, the unit's ambient
# capabilities, the master key in a credentials directory, NOTIFY_SOCKET
# and WATCHDOG_USEC, /proc mounted as ProtectProc=invisible mounts it),
# and what it did (each system call, socket family and write) against the
# unit's filters.
set -u
given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.."
. tests/integration/lib/tap.sh
. tests/packaging/lib.sh
ROOT=$PWD
CHECK=$ROOT/tests/packaging/unit_check.py
SDSOCK=$ROOT/tests/integration/lib/sdsocket.py

pkg_preflight dpkg-buildpackage lintian systemd-analyze strace setpriv \
    unshare runuser python3
[ -f /usr/share/bash-completion/bash_completion ] ||
    { echo "1..0 # SKIP needs bash-completion (scripts/install-deps --packaging)"; exit 0; }

installed() { # the package's dpkg status word, or nothing
	dpkg-query -W -f='${db:Status-Status}' rotad 2>/dev/null
}
if [ -n "$(installed)" ] && [ "$(installed)" != not-installed ]; then
	not_ok "rotad is not installed yet" \
	    "dpkg says rotad is $(installed): this test installs it fresh" \
	    "and purges it; purge it first (dpkg --purge rotad)"
	echo "1..$n"
	exit 1
fi
pkg_users_remember

T=$(mktemp -d /tmp/rotad-deb-test.XXXXXX)
chmod 755 "$T"
JOB=/etc/rotad/conf.d/zz-deb-test.yaml
SPID= NPID= SIEMPID=
cleanup() {
	# rotad-siem and the daemon first (strace's children; the daemon's
	# workers die with it), then strace, which would leave them running.
	if [ -n "$SIEMPID" ]; then
		# shellcheck disable=SC2046
		kill -KILL $(pgrep -P "$SIEMPID") 2>/dev/null
		kill -KILL "$SIEMPID" 2>/dev/null
	fi
	if [ -n "$SPID" ]; then
		# shellcheck disable=SC2046
		kill -KILL $(pgrep -P "$SPID") 2>/dev/null
		kill -KILL "$SPID" 2>/dev/null
	fi
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null
	pkg_boot_stop
	wait 2>/dev/null
	rm -f "$JOB"
	if [ -n "${ROTAD_TEST_LOGS:-}" ]; then
		mkdir -p "$ROTAD_TEST_LOGS" && cp "$T"/*.log "$ROTAD_TEST_LOGS"/
	fi
	if [ -n "$(installed)" ] && [ "$(installed)" != not-installed ]; then
		dpkg --purge rotad >/dev/null 2>&1
	fi
	pkg_users_restore
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- build ----------------------------------------------------------------

# Its unit tests are a tier of their own.
export DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
pkg_build "make deb builds the package (scripts/deb, lintian --fail-on error)" \
    scripts/deb 'rotad_*.deb' "$given"
DEB=$PKG

lintian --tag-display-limit 0 "$DEB" >"$T/lintian.log" 2>&1
! grep -q '^E: ' "$T/lintian.log"
verdict "lintian: no error" $? "$(cat "$T/lintian.log")"
grep '^W: ' "$T/lintian.log" | sed 's/^/# lintian (explained in packaging\/README.md): /'

# ---- install ---------------------------------------------------------------

dpkg -i "$DEB" >"$T/install.log" 2>&1 && [ "$(installed)" = installed ]
verdict "dpkg -i installs it" $? "$(cat "$T/install.log")"
grep -E 'created master key|store .* ready' "$T/install.log" >/dev/null
verdict "the first install made the master key and the store (rotad --init)" $? \
    "$(cat "$T/install.log")"

pkg_check_layout
dpkg-query -W -f='${Conffiles}\n' rotad | grep -q ' /etc/rotad/rotad.yaml '
verdict "rotad.yaml is a conffile" $? "$(dpkg-query -W -f='${Conffiles}\n' rotad)"

files_ok=0
for f in /usr/sbin/rotad /usr/bin/rotactl /usr/libexec/rotad-worker \
    /usr/libexec/rotad-deliver /usr/share/man/man8/rotad-deliver.8.gz \
    /usr/sbin/rotad-siem /lib/systemd/system/rotad-siem.service \
    /lib/systemd/system/rotad-siem.socket \
    /usr/share/man/man8/rotad-siem.8.gz \
    /lib/systemd/system/rotad.service /usr/lib/sysusers.d/rotad.conf \
    /usr/lib/tmpfiles.d/rotad.conf \
    /usr/share/bash-completion/completions/rotactl \
    /usr/share/bash-completion/completions/rotad \
    /usr/share/man/man8/rotad.8.gz /usr/share/man/man8/rotad-worker.8.gz \
    /usr/share/man/man1/rotactl.1.gz \
    /usr/share/man/man5/rotad.yaml.5.gz \
    /usr/share/doc/rotad/examples/conf.d/00-configuration.yaml; do
	[ -e "$f" ] || { files_ok=1; echo "# missing: $f"; }
done
[ "$files_ok" -eq 0 ]
verdict "programs, units, sysusers.d, tmpfiles.d, man pages, completions and examples installed" $?

# The default rotad.yaml documents each key by its default, commented
# out; uncommented, it must still load (the comments must stay true).
mkdir -p "$T/etc/conf.d"
sed -E 's/^#([^ #]|  )/\1/' /etc/rotad/rotad.yaml >"$T/etc/rotad.yaml"
out=$(rotad -n -c "$T/etc/rotad.yaml" 2>&1)
verdict "rotad.yaml's commented settings, uncommented, pass rotad -n" $? \
    "$out" "$(grep -v '^#' "$T/etc/rotad.yaml" | grep -v '^$')"

out=$(rotad --version 2>&1) && rotactl cron '0 0 3 ? * SUN' -n 1 >/dev/null 2>&1
verdict "rotad --version and rotactl cron run" $? "$out"

# What the installed completion offers for WORDS (the last one being
# completed), as bash-completion would ask it.
completes() {
	bash -c '. /usr/share/bash-completion/bash_completion || exit 1
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	_completion_loader "$1"
	f=$(complete -p "$1" | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
	"$f" "$1" "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
	echo "${COMPREPLY[*]}"' completes "$@" 2>&1
}
a=$(completes rotactl se) b=$(completes rotactl secret '') \
    c=$(completes rotactl rotate --w) d=$(completes rotad --in)
[ "$a" = secret ] && [ "$b" = "set get history" ] && [ "$c" = --wait ] &&
    [ "$d" = --init ]
verdict "bash completion: rotactl's commands and options, rotad's options" $? \
    "rotactl se -> $a" "rotactl secret -> $b" "rotactl rotate --w -> $c" \
    "rotad --in -> $d"

# ---- the unit --------------------------------------------------------------

# analyze UNIT: systemd-analyze verify on UNIT, silent; and security
# --offline=true, an exposure of 2.0 or better, printed.  Two cases.
analyze() {
	local unit=$1 name=${1##*/} out exposure
	out=$(systemd-analyze verify "$unit" 2>&1)
	[ $? -eq 0 ] && [ -z "$out" ]
	verdict "systemd-analyze verify $unit" $? "$out"
	systemd-analyze security --offline=true "$unit" >"$T/security-$name.log" 2>&1
	exposure=$(sed -n "s/.*Overall exposure level for $name: \\([0-9.]*\\).*/\\1/p" \
	    "$T/security-$name.log")
	[ -n "$exposure" ] &&
	    python3 -c "import sys; sys.exit(not float('$exposure') <= 2.0)"
	verdict "systemd-analyze security --offline=true $name: exposure ${exposure:-?} (2.0 or better)" $? \
	    "$(grep '✗' "$T/security-$name.log")"
	echo "# systemd-analyze security $name: exposure ${exposure:-unknown}"
}

UNIT=/lib/systemd/system/rotad.service
analyze "$UNIT"

# rotad-siem's unit: off until the operator enables it, hardened, and its
# filter lets rotad-siem's own lock-down and seccomp allow-list through.
SUNIT=/lib/systemd/system/rotad-siem.service
SSOCK=/lib/systemd/system/rotad-siem.socket
analyze "$SUNIT"
out=$(systemd-analyze verify "$SSOCK" 2>&1)
[ $? -eq 0 ] && [ -z "$out" ]
verdict "systemd-analyze verify $SSOCK" $? "$out"
out=$(python3 "$CHECK" settings "$SSOCK" ListenStream=0.0.0.0:8443 \
    PartOf=rotad.service WantedBy=sockets.target 2>&1)
verdict "rotad-siem.socket: systemd binds 0.0.0.0:8443 for it, stopped with rotad" $? "$out"

out=$(python3 "$CHECK" settings "$SUNIT" User=rotad-siem Group=rotad-siem \
    SupplementaryGroups=rotad CapabilityBoundingSet= '!AmbientCapabilities' \
    NoNewPrivileges=yes ProtectSystem=strict '!ReadWritePaths' \
    'InaccessiblePaths~-/var/lib/rotad' 'InaccessiblePaths~-/etc/rotad/master.key' \
    'InaccessiblePaths~-/etc/rotad/rotad.yaml' 'InaccessiblePaths~-/etc/rotad/conf.d' \
    ProtectHome=yes PrivateTmp=yes PrivateDevices=yes PrivateNetwork=yes \
    PrivateUsers=yes 'RestrictAddressFamilies=AF_UNIX' \
    'SystemCallFilter~@system-service' 'SystemCallFilter~~@privileged' \
    MemoryDenyWriteExecute=yes 'Requires~rotad.service' \
    'LoadCredential~siem.key:/etc/rotad/siem.key' \
    'LoadCredential~siem.secret:/etc/rotad/siem.secret' \
    'Environment~ROTAD_SIEM_AUTH=--hmac-key-file' \
    'Requires~rotad-siem.socket' FileDescriptorStoreMax=1 NotifyAccess=main \
    RestartForceExitStatus=3 SuccessExitStatus=3 2>&1)
verdict "rotad-siem.service: its own user, no capability, no store nor key, no writes, AF_UNIX alone, its own network and user namespaces, a system-call filter, its socket systemd's and a store for its replay cache" $? "$out"

# Debian's enabling is a symlink into a .wants directory, made by the
# postinst whether or not systemd runs.
wants=$(find /etc/systemd/system -name 'rotad*.service' -o -name 'rotad*.socket' 2>/dev/null | sort)
[ "$wants" = /etc/systemd/system/multi-user.target.wants/rotad.service ]
verdict "rotad.service is enabled by the install, rotad-siem.service and .socket are not" $? \
    "links: ${wants:-none}"

# What rotad-siem may call once its own filter is on (siem/lockdown.c)
# and what its lock-down calls before that.
names=$( (sed -n '/^static const char \*const allowed\[\] = {/,/^};/p' \
    siem/lockdown.c | grep -o '"[a-z0-9_]*"' | tr -d '"'
    grep -o 'SCMP_SYS([a-z0-9_]*)' siem/lockdown.c |
	sed 's/^SCMP_SYS(\(.*\))$/\1/'))
# shellcheck disable=SC2086
out=$(python3 "$CHECK" allows "$SUNIT" $names prctl seccomp prlimit64 2>&1)
[ $? -eq 0 ] && [ "$(echo "$names" | wc -w)" -gt 50 ]
verdict "every system call rotad-siem's own seccomp allow-list names is allowed by its unit's SystemCallFilter=" $? "$out"
echo "$out" | tail -n 1 | sed 's/^/# /'

# The daemon as the unit runs it: user rotad with the unit's ambient
# capabilities and bounding set, the key as a credential (as systemd hands
# it over where the credentials directory has no ACLs: rotad's, 0400),
# NOTIFY_SOCKET and WATCHDOG_USEC, a /proc that hides other users'
# processes (ProtectProc=invisible), cwd /, an empty environment but
# those; under strace, to hold what it did against the unit's filters.
mkdir -p "$T/scripts"
pkg_credentials "$T/creds" "$KEY"
pkg_notify_listen "$T/notify.sock" "$T/notify.log"

# A script-provider user: /bin/sh runs each script, reading Keeper's input
# line (the worker may exec its interpreter and nothing else).
printf 'read -r line\necho rotated\n' >"$T/scripts/rotate.sh"
printf 'read -r line\necho verified\n' >"$T/scripts/verify.sh"
chmod 755 "$T/scripts"
chmod 644 "$T/scripts/rotate.sh" "$T/scripts/verify.sh"
cat >"$T/job.yaml" <<EOF
resources:
  deb-test-svc:
    kind: api
    protocol: script
    rotate_script: {path: $T/scripts/rotate.sh, command: /bin/sh}
    verify_script: {path: $T/scripts/verify.sh, command: /bin/sh}
users:
  deb-test:
    login: deb-test
    resource: deb-test-svc
EOF

notified() { pkg_notified "$T/notify.log" "$@"; }

pkg_unit_setpriv "$UNIT"
(cd / && exec unshare -m --propagation private sh -c '
	mount -t proc -o hidepid=invisible proc /proc || exit 125
	log=$1 creds=$2 notify=$3
	shift 3
	exec strace -f -qq -o "$log" "$@" env -i \
	    CREDENTIALS_DIRECTORY="$creds" NOTIFY_SOCKET="$notify" \
	    WATCHDOG_USEC=2000000 /usr/sbin/rotad' sh "$T/strace.log" \
    "$T/creds" "$T/notify.sock" "${PKG_SETPRIV[@]}") 2>"$T/daemon.log" &
SPID=$!
notified READY=1 && out=$(rotactl --json status 2>&1)
verdict "started as the unit starts it (user rotad, key credential, hidden /proc), it says READY=1 and answers rotactl" $? \
    "$(cat "$T/daemon.log")" "$(cat "$T/notify.log" 2>/dev/null)"
DPID=$(printf '%s\n' "$out" | jget 'j["pid"]' 2>/dev/null)
[ -n "$DPID" ] && [ "$(stat -c %U "/proc/$DPID")" = rotad ]
verdict "the daemon runs as rotad" $? "pid ${DPID:-?}: $(ps -o user=,pid=,args= -p "${DPID:-1}")"

install -m 0644 "$T/job.yaml" "$JOB"
# rotad-siem's ACL line, as docs/siem.md has the operator add it; the
# file as installed comes back once the daemon has stopped.
cp -p /etc/rotad/rotad.yaml "$T/rotad.yaml.orig"
printf 'control:\n  acl:\n    - {user: rotad-siem, rights: [trigger]}\n' \
    >>/etc/rotad/rotad.yaml
kill -HUP "${DPID:-0}" 2>/dev/null
notified RELOADING=1 && notified READY=1 2 &&
    rotactl list 2>/dev/null | grep -q '^deb-test '
verdict "SIGHUP (the unit's ExecReload): RELOADING=1, READY=1, the new job file loaded" $? \
    "$(cat "$T/notify.log")" "$(tail -5 "$T/daemon.log")"

out=$(completes rotactl show deb)
[ "$out" = deb-test ]
verdict "bash completion: rotactl show completes the daemon's users" $? "-> $out"

notified WATCHDOG=1 2
verdict "WATCHDOG=1 at half of WATCHDOG_USEC (the unit's WatchdogSec)" $? \
    "$(cat "$T/notify.log")"

printf 'first-secret-of-deb-test\n' | rotactl secret set deb-test >/dev/null 2>&1 &&
    out=$(rotactl --json rotate deb-test --wait 2>&1) &&
    [ "$(printf '%s\n' "$out" | tail -n 1 | jget 'j["run"]["state"]')" = committed ]
verdict "a script-provider user rotates to committed" $? \
    "$out" "$(tail -10 "$T/daemon.log")"

# rotad-siem as its unit runs it: user rotad-siem with rotad's group
# added, no capability, its three files as systemd hands credentials over
# where it has no ACLs (rotad-siem's, 0400, in a directory of its, 0500),
# the unit's ExecStart= with its Environment= defaults; its socket bound
# and passed as rotad-siem.socket has systemd do it, with a store for its
# replay cache (tests/integration/lib/sdsocket.py; here on 127.0.0.1);
# under strace (-D: the traced process keeps the PID systemd's passing
# names), to hold what it did against the unit's filters.  A signed
# request rotates deb-test.
siem_run() {
	local c=$T/siem-creds i ts sig body out run cmd auth nb
	mkdir -m 0700 "$c" && pkg_siem_files "$c" || return 1
	cp "$c/siem.crt" "$T/siem-ca.pem"
	chown -R rotad-siem:rotad-siem "$c" && chmod 0400 "$c"/* &&
	    chmod 0500 "$c" || return 1
	SIEMPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	pkg_unit_setpriv "$SUNIT"
	auth=$(sed -n 's/^Environment=ROTAD_SIEM_AUTH=//p' "$SUNIT")
	cmd=$(sed -n 's/^ExecStart=//p' "$SUNIT" | sed -e "s|%d|$c|g" \
	    -e "s|\${ROTAD_SIEM_AUTH}|$auth|" -e 's|\$ROTAD_SIEM_OPTIONS||')
	echo "$cmd" >"$T/siem.log"
	mkdir -m 0755 "$T/sd" || return 1
	# shellcheck disable=SC2086
	(cd / && exec python3 "$SDSOCK" --clear-env \
	    --listen "127.0.0.1:$SIEMPORT" --dir "$T/sd" -- \
	    "$(command -v strace)" -D -f -qq -o "$T/siem-strace.log" \
	    "$(command -v "${PKG_SETPRIV[0]}")" "${PKG_SETPRIV[@]:1}" $cmd) 2>>"$T/siem.log" >"$T/sd.log" &
	SIEMPID=$!
	for i in $(seq 100); do
		grep -q 'listening on' "$T/siem.log" && break
		kill -0 "$SIEMPID" 2>/dev/null || return 1
		sleep 0.1
	done
	# It refuses timestamps from before its start: sign after it.
	nb=$(sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' "$T/siem.log")
	while [ "$(date +%s)" -lt "${nb:-0}" ]; do sleep 0.1; done
	body='{"alert_id":"deb-test-1","users":["deb-test"]}'
	ts=$(date +%s)
	sig=$(printf '%s.%s' "$ts" "$body" | pkg_hmac "$c/siem.secret")
	out=$(curl -sS --cacert "$T/siem-ca.pem" -H "X-Rotad-Timestamp: $ts" \
	    -H "X-Rotad-Signature: sha256=$sig" --data-binary "$body" \
	    "https://127.0.0.1:$SIEMPORT/v1/rotate" 2>&1)
	echo "$out" >"$T/siem-answer.log"
	run=$(printf '%s\n' "$out" | jget 'j["runs"][0]["run"]' 2>/dev/null) ||
	    return 1
	for i in $(seq 100); do
		[ "$(rotactl --json run "$run" 2>/dev/null |
		    jget 'j["run"]["state"]' 2>/dev/null)" = committed ] && break
		sleep 0.1
	done
	rotactl --json events --since 0 -n 1000 2>/dev/null | python3 -c '
import json, sys
sys.exit(not any(e.get("run_id") == sys.argv[1] and
    e["name"].startswith("record_") and e.get("trigger") == "siem_alert"
    for e in map(json.loads, sys.stdin)))' "$run"
}
if command -v curl >/dev/null && command -v openssl >/dev/null; then
	siem_run
	verdict "rotad-siem started as its unit starts it (user rotad-siem, group rotad added, credentials): a signed request rotates deb-test, trigger siem_alert" $? \
	    "$(cat "$T/siem.log")" "$(cat "$T/siem-answer.log" 2>/dev/null)"
	u=$(stat -c %U "/proc/$(pgrep -P "${SIEMPID:-0}" | head -n 1)" 2>/dev/null)
	grep -q "listening on https://127.0.0.1:$SIEMPORT/v1/rotate (socket from systemd)" "$T/siem.log" &&
	    grep -q '^stored replay$' "$T/sd.log"
	verdict "rotad-siem took its socket from systemd and gave the store a file for its replay cache" $? \
	    "$(cat "$T/sd.log")" "$(tail -3 "$T/siem.log")"
	kill -TERM "${SIEMPID:-0}" 2>/dev/null
	wait "$SIEMPID"
	st=$?
	SIEMPID=
	[ "$u" = rotad-siem ] && [ "$st" -eq 0 ] && grep -q stopping "$T/siem.log"
	verdict "rotad-siem ran as rotad-siem and stopped on SIGTERM, exit 0" $? \
	    "user ${u:-?}, exit $st" "$(tail -3 "$T/siem.log")"
	for m in syscalls families writes; do
		out=$(python3 "$CHECK" $m "$SUNIT" "$T/siem-strace.log" 2>&1)
		verdict "rotad-siem, traced: unit_check.py $m against rotad-siem.service" $? "$out"
		echo "$out" | tail -n 1 | sed 's/^/# rotad-siem: /'
	done
else
	ok "rotad-siem as its unit runs it # SKIP needs curl and openssl"
fi

kill -TERM "${DPID:-0}" 2>/dev/null
wait "$SPID"
st=$?
SPID=
notified STOPPING=1
[ $? -eq 0 ] && [ "$st" -eq 0 ]
verdict "SIGTERM: STOPPING=1, exit 0" $? "exit $st" "$(tail -5 "$T/daemon.log")"
rm -f "$JOB"
cp -p "$T/rotad.yaml.orig" /etc/rotad/rotad.yaml

# Each worker switched to rotad-worker with the capabilities the daemon
# passed on, then dropped them all (worker/sandbox.c, step 4).
# A call strace split in two (another process ran between: "<unfinished
# ...>", then "<... NAME resumed>") counts too, by its process.
succeeded() { # CALL_START_ERE FILE: the calls that returned 0
	awk -v pat="$1" '
	{ pid = $1 }
	$0 ~ "^[0-9]+ +" pat ".*[)] += 0" { n++; next }
	$0 ~ "^[0-9]+ +" pat ".*<unfinished [.][.][.]>$" { open[pid] = 1; next }
	(pid in open) && $0 ~ "<[.][.][.] [a-z0-9_]+ resumed>.*[)] += 0" {
		n++
	}
	{ delete open[pid] }
	END { print n + 0 }' "$2"
}
wuid=$(id -u rotad-worker)
nwork=$(succeeded "setresuid[(]$wuid, $wuid, $wuid" "$T/strace.log")
ndrop=$(succeeded 'capset[(].*[{]effective=0, permitted=0, inheritable=0[}]' \
    "$T/strace.log")
[ "$nwork" -ge 2 ] && [ "$ndrop" -ge "$nwork" ]
verdict "its workers became rotad-worker ($nwork setresuid) and dropped every capability" $? \
    "$(grep -E 'setresuid|capset' "$T/strace.log" | tail -8)"

out=$(python3 "$CHECK" syscalls "$UNIT" "$T/strace.log" 2>&1)
verdict "every system call of the daemon, its workers and their scripts is allowed by SystemCallFilter=" $? "$out"
echo "$out" | tail -n 1 | sed 's/^/# /'
out=$(python3 "$CHECK" families "$UNIT" "$T/strace.log" 2>&1)
verdict "every socket() family is in RestrictAddressFamilies=" $? "$out"
echo "$out" | tail -n 1 | sed 's/^/# /'
out=$(python3 "$CHECK" writes "$UNIT" "$T/strace.log" 2>&1)
verdict "every write is below a path ProtectSystem=strict leaves writable" $? "$out"
echo "$out" | tail -n 1 | sed 's/^/# /'

# What the trace cannot show: the calls of providers not run here.  Each
# system call a worker's seccomp allow-list names (worker/sandbox.c's
# sys_* lists but sys_never, the template's deny-list of calls no worker
# makes; the catalog's extras) and those of its lock-down before the
# filter.
names=$( (awk '/^static const char \*const sys_[a-z]*\[\] = \{/ { on = $0 !~ /sys_never/ }
    on { print } /^};/ { on = 0 }' worker/sandbox.c
    sed -n '/_syscalls\[\] = {/,/^};/p' catalog/catalog.c) |
    grep -o '"[a-z0-9_]*"' | tr -d '"'
    grep -o 'SCMP_SYS([a-z0-9_]*)' worker/sandbox.c | sed 's/^SCMP_SYS(\(.*\))$/\1/')
# shellcheck disable=SC2086
out=$(python3 "$CHECK" allows "$UNIT" $names close_range prlimit64 setgroups \
    setresgid setresuid capget capset prctl landlock_create_ruleset \
    landlock_add_rule landlock_restrict_self seccomp 2>&1)
[ $? -eq 0 ] && [ "$(echo "$names" | wc -w)" -gt 50 ]
verdict "every system call a worker's seccomp allow-list names is allowed by SystemCallFilter=" $? "$out"
echo "$out" | tail -n 1 | sed 's/^/# /'

# ---- upgrade, remove, purge ------------------------------------------------

echo "# edited by deb.sh" >>/etc/rotad/rotad.yaml
keysum=$(sha256sum <"$KEY")
storesum=$(sha256sum <"$STORE")
dpkg -i "$DEB" >"$T/reinstall.log" 2>&1 &&
    tail -n 1 /etc/rotad/rotad.yaml | grep -q '^# edited by deb.sh$' &&
    [ ! -e /etc/rotad/rotad.yaml.dpkg-new ] &&
    [ "$(sha256sum <"$KEY")" = "$keysum" ] &&
    [ "$(sha256sum <"$STORE")" = "$storesum" ] &&
    [ "$(perms /etc/rotad)" = "root:rotad 750" ] && rotad -n >/dev/null 2>&1
verdict "reinstalled over an edited rotad.yaml: the edit, the key and the store are kept" $? \
    "$(cat "$T/reinstall.log")" "$(tail -n 3 /etc/rotad/rotad.yaml)"

dpkg -r rotad >"$T/remove.log" 2>&1 && [ ! -e /usr/sbin/rotad ] &&
    [ -f /etc/rotad/rotad.yaml ] && [ -f "$KEY" ] && [ -f "$STORE" ] &&
    [ "$(installed)" = config-files ]
verdict "dpkg -r removes the programs and keeps the configuration, the key and the store" $? \
    "$(cat "$T/remove.log")"

dpkg --purge rotad >"$T/purge.log" 2>&1 && [ ! -e /etc/rotad ] &&
    [ ! -e /var/lib/rotad ] && [ ! -e /run/rotad ] &&
    ! dpkg-statoverride --list /etc/rotad >/dev/null 2>&1 &&
    [ "$(installed)" != config-files ] &&
    [ -z "$(dpkg -L rotad 2>/dev/null)" ]
verdict "dpkg --purge removes /etc/rotad, /var/lib/rotad, /run/rotad and the statoverride" $? \
    "$(cat "$T/purge.log")" "$(ls -d /etc/rotad /var/lib/rotad /run/rotad 2>&1)"
getent passwd rotad rotad-worker >/dev/null
verdict "the users stay after purge (as Debian's packages leave theirs)" $?

# ---- the units under systemd as PID 1 ------------------------------------

# This system booted in a container, the package installed there and run
# by systemd (tests/packaging/deb-booted.sh).
. tests/packaging/deb-booted.sh
if command -v systemd-nspawn >/dev/null && command -v curl >/dev/null &&
    command -v openssl >/dev/null; then
	pkg_users_restore
	booted_cases
	# The container's journal, for ROTAD_TEST_LOGS.
	[ -n "$BOOT_PID1" ] &&
	    pkg_booted journalctl -q -o short-precise >"$T/boot-journal.log" 2>&1
	pkg_boot_stop
else
	ok "the units under systemd as PID 1 # SKIP needs systemd-nspawn (scripts/install-deps --packaging), curl and openssl"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
