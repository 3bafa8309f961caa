#!/bin/bash
# tests/packaging/chroot.sh [DEB]: the .deb in a clean Debian root, and the
# operator's first day there with nothing but docs/operations.md.  TAP.
#
# Builds the .deb (scripts/deb, without its unit tests) unless DEB names
# one, makes a clean root with `debootstrap --variant=minbase bookworm`
# from the mirror this system's apt uses, and in it, chrooted:
#
#   - installs the package as docs/operations.md says (apt install ./FILE,
#     which must find every dependency on the mirror), and checks the
#     layout as deb.sh does (lib.sh's pkg_check_layout);
#   - runs rotad -n and rotactl cron;
#   - starts the daemon as rotad.service would (User=, the unit's
#     capabilities, UMask=, the key as the credential master.key, a
#     Type=notify socket, /proc as ProtectProc=invisible mounts it), since
#     no systemd runs there;
#   - installs two scripts and a job file, seeds a secret, verifies and
#     rotates a protocol: script user to committed, each command taken
#     literally from docs/operations.md (a command the page does not show
#     fails its case: fix the page, not the test);
#   - stops the daemon, purges the package and finds nothing of it left.
#
# Needs root and debootstrap (scripts/install-deps --packaging), and the
# mirror (ROTAD_CHROOT_MIRROR, else the one of /etc/apt/sources*).  The
# clean root is made once and kept as a tarball in build/chroot/ (remade
# after 7 days, or with ROTAD_CHROOT_FRESH=1); each run unpacks a copy.
# Everything it mounts is in a mount namespace of its own, and unmounted,
# and what it started killed (by pid), whatever happens.
# ROTAD_TEST_LOGS=DIR keeps its logs.
set -u
given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.." || exit 1

# The mounts are this test's alone: they go with it even if it is killed.
if [ "$(id -u)" -eq 0 ] && [ -z "${ROTAD_CHROOT_NS:-}" ] &&
    command -v unshare >/dev/null; then
	ROTAD_CHROOT_NS=1 exec unshare -m --propagation private "$0" ${given:+"$given"}
fi

. tests/integration/lib/tap.sh
. tests/packaging/lib.sh
ROOT=$PWD
OPS=$ROOT/docs/operations.md
SUITE=bookworm
started=$SECONDS

pkg_preflight debootstrap dpkg-buildpackage chroot setpriv python3 findmnt

# The mirror this system's apt uses for SUITE: a deb line of
# sources.list(5), or a deb822 stanza of a .sources file.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" '$1 == "deb" {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) break
			if (i < NF && $(i + 1) == suite) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$SUITE" 'BEGIN { RS = ""; FS = "\n" } {
			u = ""; s = 0; off = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) u = $i
				if ($i ~ ("^Suites:.*[ \t]" suite "([ \t]|$)")) s = 1
				if ($i ~ /^Enabled:[ \t]*no/) off = 1
			}
			if (s && !off && u != "") {
				sub(/^URIs:[ \t]*/, "", u); split(u, a, /[ \t]+/)
				print a[1]
			}
		}' "$f"
	done
}
MIRROR=${ROTAD_CHROOT_MIRROR:-$(apt_mirror | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

CACHE=$ROOT/build/chroot
mkdir -p "$CACHE"
T=$(mktemp -d "$CACHE/run.XXXXXX")
DIR=$T/root
PKG_ROOT=
NPID= DPID=

# Every process whose root is DIR: this test's, started in its chroot.
in_root_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$DIR" ] && echo "${p#/proc/}"
	done
}
cleanup() {
	local p
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	# shellcheck disable=SC2046
	[ -d "$DIR" ] && kill -KILL $(in_root_pids) 2>/dev/null
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null
	wait 2>/dev/null
	if [ -n "${ROTAD_TEST_LOGS:-}" ]; then
		mkdir -p "$ROTAD_TEST_LOGS" && cp "$T"/*.log "$ROTAD_TEST_LOGS"/ 2>/dev/null
	fi
	# Innermost first; then nothing may be mounted below DIR before it
	# goes (and rm does not cross into another file system anyway).
	for p in $(findmnt -rn -o TARGET | grep -F "$DIR" | sort -r); do
		umount -l "$p" 2>/dev/null
	done
	if [ -z "$(findmnt -rn -o TARGET | grep -F "$DIR")" ]; then
		rm -rf --one-file-system "$T"
	else
		echo "# chroot.sh: still mounted below $DIR; left in place" >&2
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# CMD in the root, as root, in a login-like environment.
in_root() {
	chroot "$DIR" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
	    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    DEBIAN_FRONTEND=noninteractive "$@"
}

# Whether docs/operations.md shows CMD: as a line of a code block (less
# its "# comment"), or as an inline `CMD`.  A USER there stands for any
# user name.
documented() {
	python3 - "$OPS" "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
want = " ".join(sys.argv[2].split())
shown = set()
for line in text.splitlines():
    if line.startswith("    "):
        shown.add(" ".join(re.sub(r"\s+#.*$", "", line).split()))
for span in re.findall(r"`([^`\n]+)`", text):
    shown.add(" ".join(span.split()))
generic = re.sub(r"web01-app", "USER", want)
sys.exit(0 if want in shown or generic in shown else 1)
EOF
}

# Run CMD as docs/operations.md shows it, in the root, in /root, as root,
# its standard input from the caller's: OUT gets what it printed, and its
# status is returned (127 when the page does not show CMD).
doc() {
	if ! documented "$1"; then
		OUT="docs/operations.md does not show \`$1\`"
		return 127
	fi
	echo "\$ $1" >>"$T/commands.log"
	OUT=$(in_root sh -c "cd /root && $1" 2>&1)
	local st=$?
	case $1 in
	*"secret get"*) echo "(not logged: a secret)" >>"$T/commands.log" ;;
	*) printf '%s\n' "$OUT" >>"$T/commands.log" ;;
	esac
	echo "[exit $st]" >>"$T/commands.log"
	return "$st"
}

# ---- the package -----------------------------------------------------------

export DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
pkg_build "make deb builds the package (scripts/deb)" scripts/deb \
    'rotad_*.deb' "$given"
DEB=$PKG
echo "# package: ${DEB##*/}"

# ---- the clean root --------------------------------------------------------

t0=$SECONDS
key=$(printf '%s %s %s\n' "$SUITE" "$MIRROR" "$(debootstrap --version)" |
    sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-minbase-$key.tar
if [ -n "${ROTAD_CHROOT_FRESH:-}" ] ||
    [ -z "$(find "$TARBALL" -mtime -7 2>/dev/null)" ]; then
	how="made by debootstrap from $MIRROR"
	debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR" \
	    >"$T/debootstrap.log" 2>&1 &&
	    tar -C "$DIR" -cf "$TARBALL.$$" . && mv "$TARBALL.$$" "$TARBALL"
	st=$?
	rm -f "$TARBALL.$$"
else
	how="unpacked from ${TARBALL#"$ROOT"/}"
	mkdir -p "$DIR" && tar -C "$DIR" -xpf "$TARBALL" >"$T/debootstrap.log" 2>&1
	st=$?
fi
# Clean: Debian 12, and neither rotad nor systemd in it.
[ "$st" -eq 0 ] && grep -q '^12\.' "$DIR/etc/debian_version" 2>/dev/null &&
    ! chroot "$DIR" dpkg-query -W rotad >/dev/null 2>&1 &&
    ! chroot "$DIR" dpkg-query -W systemd >/dev/null 2>&1
verdict "a clean root: debootstrap --variant=minbase $SUITE ($how, $((SECONDS - t0)) s)" $? \
    "$(tail -20 "$T/debootstrap.log")"
echo "# root: $how in $((SECONDS - t0)) s"
[ -f "$DIR/etc/debian_version" ] || { echo "1..$n"; exit 1; }
PKG_ROOT=$DIR # lib.sh's helpers look in the root from now on

# What a booted system has and a chroot does not: /proc (as the unit's
# ProtectProc=invisible mounts it for all, here), the host's resolver, and
# apt's answer "yes" (the commands are the page's; only the prompt goes).
mount -t proc -o hidepid=invisible proc "$DIR/proc" &&
    cp /etc/resolv.conf "$DIR/etc/resolv.conf" &&
    echo 'APT::Get::Assume-Yes "true";' >"$DIR/etc/apt/apt.conf.d/90rotad-test" &&
    in_root apt-get update >"$T/apt-update.log" 2>&1
verdict "apt in the root reaches $MIRROR (apt-get update)" $? \
    "$(tail -20 "$T/apt-update.log")"

# ---- install, as docs/operations.md says -----------------------------------

mkdir -p "$DIR/root/build/packages" && cp "$DEB" "$DIR/root/build/packages/"
t0=$SECONDS
doc 'apt install ./build/packages/rotad_*_amd64.deb' &&
    [ "$(in_root dpkg-query -W -f='${db:Status-Status}' rotad)" = installed ]
verdict "apt install ./build/packages/rotad_*_amd64.deb installs it and its dependencies from the mirror ($((SECONDS - t0)) s)" $? \
    "$OUT"
printf '%s\n' "$OUT" >"$T/install.log"
if [ "$(in_root dpkg-query -W -f='${db:Status-Status}' rotad 2>/dev/null)" != installed ]; then
	echo "1..$n" # the rest would fail for this alone
	exit 1
fi
printf '%s\n' "$OUT" | grep -E 'created master key|store .* ready' >/dev/null
verdict "the first install made the master key and the store (rotad --init)" $? "$OUT"

pkg_check_layout
in_root dpkg -L rotad >"$T/files" 2>&1

doc 'rotad -n' && [ "$OUT" = "configuration OK" ]
verdict "rotad -n: configuration OK" $? "$OUT"

out=$(in_root rotactl cron '0 0 3 ? * SUN' -n 2 2>&1) &&
    [ "$(printf '%s\n' "$out" | grep -c 'T03:00:00')" -eq 2 ]
verdict "rotactl cron '0 0 3 ? * SUN' -n 2: two fires at 03:00" $? "$out"

# ---- the daemon, as rotad.service starts it --------------------------------

# What systemd would do for the unit: the credential in
# /run/credentials/rotad.service, a notify socket, the unit's user and
# capabilities, UMask=0077, cwd /, an empty environment but those.
UNIT=$DIR/lib/systemd/system/rotad.service
pkg_credentials /run/credentials/rotad.service /etc/rotad/master.key
pkg_notify_listen "$DIR/run/rotad-test-notify.sock" "$T/notify.log"
pkg_unit_setpriv "$UNIT"
(umask 077 && cd / && exec chroot "$DIR" "${PKG_SETPRIV[@]}" env -i \
    CREDENTIALS_DIRECTORY=/run/credentials/rotad.service \
    NOTIFY_SOCKET=/run/rotad-test-notify.sock WATCHDOG_USEC=60000000 \
    /usr/sbin/rotad) 2>"$T/daemon.log" &
DPID=$!
notified() { pkg_notified "$T/notify.log" "$@"; }

notified READY=1 && [ "$(stat -c %u "/proc/$DPID")" = "$(in_root id -u rotad)" ] &&
    grep -q '^CapAmb:.*[1-9a-f]' "/proc/$DPID/status" &&
    doc 'rotactl status' && printf '%s\n' "$OUT" | grep -q 'health: ok'
verdict "the daemon started as the unit starts it (user rotad, ambient capabilities, the key as a credential): READY=1, rotactl status says health: ok" $? \
    "$OUT" "$(cat "$T/daemon.log")" "$(grep -E 'Uid|Cap' "/proc/$DPID/status" 2>&1)"

# ---- a job of scripts, as docs/operations.md says --------------------------

# The operator's two scripts (here: a target that takes any password).
# Each reads Keeper's input line; the worker may run /bin/sh and read
# these, and nothing else.
printf '#!/bin/sh\nread -r line && [ -n "$line" ] && echo "password set"\n' \
    >"$DIR/root/rotate.sh"
printf '#!/bin/sh\nread -r line && [ -n "$line" ] && echo "logged in"\n' \
    >"$DIR/root/verify.sh"
doc 'install -d -m 0755 /usr/local/lib/rotad' &&
    doc 'install -m 0644 rotate.sh verify.sh /usr/local/lib/rotad/' &&
    doc 'cp /usr/share/doc/rotad/examples/conf.d/services.yaml /etc/rotad/conf.d/' &&
    [ "$(perms /usr/local/lib/rotad/rotate.sh)" = "root:root 644" ] &&
    grep -q 'protocol: script' "$DIR/etc/rotad/conf.d/services.yaml"
verdict "scripts installed in /usr/local/lib/rotad, the example services.yaml copied" $? "$OUT"

# `editor /etc/rotad/conf.d/services.yaml`: the operator's own job.
cat >"$DIR/etc/rotad/conf.d/services.yaml" <<'EOF'
resources:
  web01-api:
    kind: api
    host: web01.example.com
    protocol: script
    rotate_script: {path: /usr/local/lib/rotad/rotate.sh, command: /bin/sh}
    verify_script: {path: /usr/local/lib/rotad/verify.sh, command: /bin/sh}
users:
  web01-app:
    login: app
    resource: web01-api
    schedule: 0 0 3 ? * SUN
EOF
doc 'rotad -n' &&
    printf '%s\n' "$OUT" | grep -q 'warning: user web01-app has no secret yet.*rotactl secret set web01-app'
verdict "rotad -n on the job file: OK, with a warning that names rotactl secret set web01-app" $? "$OUT"

# `systemctl reload rotad`: the unit's ExecReload=, kill -HUP $MAINPID.
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$UNIT" &&
    kill -HUP "$DPID" && notified RELOADING=1 && notified READY=1 2
verdict "reload (the unit's ExecReload=): RELOADING=1, READY=1" $? \
    "$(cat "$T/notify.log")" "$(tail -5 "$T/daemon.log")"

# ---- the first secret, the first rotation ----------------------------------

doc 'rotactl list' &&
    printf '%s\n' "$OUT" | awk 'NR == 1 { c = index($0, "SECRET") }
        $1 == "web01-app" && c && substr($0, c) ~ /^no / { found = 1 }
        END { exit !found }'
verdict "rotactl list: web01-app, SECRET no" $? "$OUT"

doc 'rotactl show web01-app' && printf '%s\n' "$OUT" | grep -q 'secret: *no' &&
    printf '%s\n' "$OUT" | grep -q 'rotactl secret set web01-app'
verdict "rotactl show web01-app: secret: no, and the command that seeds it" $? "$OUT"

doc 'rotactl secret set web01-app' <<<'first-password-of-web01-app' &&
    printf '%s\n' "$OUT" | grep -q 'version 1'
verdict "rotactl secret set web01-app (from a pipe): stored as version 1" $? "$OUT"

doc 'rotactl verify --wait web01-app' && printf '%s\n' "$OUT" | grep -q 'verified'
verdict "rotactl verify --wait web01-app: verified" $? "$OUT" "$(tail -5 "$T/daemon.log")"

doc 'rotactl rotate --wait web01-app' &&
    printf '%s\n' "$OUT" | grep -Eq '^ *state: committed$'
verdict "rotactl rotate --wait web01-app: prepared, applied, verified, committed" $? \
    "$OUT" "$(tail -5 "$T/daemon.log")"

doc 'rotactl runs web01-app' && [ "$(printf '%s\n' "$OUT" | grep -c web01-app)" -eq 2 ]
verdict "rotactl runs web01-app: the verify and the rotation" $? "$OUT"

doc 'rotactl secret history web01-app' &&
    printf '%s\n' "$OUT" | grep -Eq '^ *2 +current' &&
    printf '%s\n' "$OUT" | grep -Eq '^ *1 +previous'
verdict "rotactl secret history web01-app: version 2 current, version 1 previous" $? "$OUT"

doc 'rotactl next web01-app' && printf '%s\n' "$OUT" | grep -q '03:00:00'
verdict "rotactl next web01-app: when the schedule fires next (03:00)" $? "$OUT"

doc 'rotactl secret get web01-app' && [ -n "$OUT" ] &&
    [ "$OUT" != first-password-of-web01-app ]
verdict "rotactl secret get web01-app: a new password" $? \
    "$( [ -n "$OUT" ] && echo "(${#OUT} bytes)")"

# `systemctl stop rotad`: SIGTERM to the main process.
kill -TERM "$DPID" 2>/dev/null
wait "$DPID"
st=$?
DPID=
[ "$st" -eq 0 ] && notified STOPPING=1 && [ -z "$(in_root_pids)" ]
verdict "stopped (SIGTERM, as systemctl stop): STOPPING=1, exit 0, no process left in the root" $? \
    "exit $st" "$(tail -5 "$T/daemon.log")" "$(in_root_pids)"
# Nothing went wrong on the way: a warning (<4>) would say, say, that its
# workers could not be switched to rotad-worker.
! grep -E '^<[0-4]>' "$T/daemon.log" >/dev/null && grep -q ROTAD-0013 "$T/daemon.log"
verdict "the daemon logged no warning or error" $? "$(grep -E '^<[0-4]>' "$T/daemon.log")"
rm -rf "$DIR/run/credentials"

# ---- purge -----------------------------------------------------------------

doc 'dpkg --purge rotad' >/dev/null
st=$?
left=
for d in /etc/rotad /var/lib/rotad /run/rotad; do
	[ -e "$DIR$d" ] && left="$left $d"
done
# Each file the package had, and each directory of its own.
while read -r f; do
	[ -n "$f" ] || continue
	case $f in */rotad | */rotad/* | */rotad[.-]* | */rotactl*) ;; *) [ -d "$DIR$f" ] && continue ;; esac
	[ -e "$DIR$f" ] || [ -L "$DIR$f" ] && left="$left $f"
done <"$T/files"
[ "$st" -eq 0 ] && [ -z "$left" ] && [ "$(wc -l <"$T/files")" -gt 10 ] &&
    [ -z "$(in_root dpkg-query -W -f='${db:Status-Status}' rotad 2>/dev/null | grep -v not-installed)" ] &&
    ! in_root dpkg-statoverride --list /etc/rotad >/dev/null 2>&1
verdict "dpkg --purge rotad: nothing of the package left (its files, /etc/rotad, /var/lib/rotad, /run/rotad, the statoverride)" $? \
    "$OUT" "left:$left"
in_root getent passwd rotad rotad-worker >/dev/null
verdict "the users stay (as docs/operations.md says)" $?

echo "# $((SECONDS - started)) s in all"
echo "1..$n"
[ "$failed" -eq 0 ]
