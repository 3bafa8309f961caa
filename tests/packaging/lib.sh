# shellcheck shell=bash
# What the package tests share: source it after tests/integration/lib/tap.sh.
#
#   pkg_preflight CMD...   skip (TAP) unless root and each CMD exists; take
#                          the lock that keeps two package tests apart
#   pkg_users_remember     note which of rotad, rotad-worker, rotad-siem
#                          exist now
#   pkg_users_restore      remove those that did not (the packages keep
#                          their users on removal, a test does not)
#   pkg_build WHAT SCRIPT GLOB [FILE]
#                          set PKG to FILE, or else build with SCRIPT into
#                          $T/pkgs (one case, WHAT) and take the file GLOB
#                          names there; no package ends the test
#                          (ROTAD_TEST_PKGS=DIR: a copy of what it built
#                          is kept there, for the next test to take)
#   pkg_check_layout       the cases every package must pass once
#                          installed: users, directories, modes, key,
#                          store, rotad -n, what rotad-worker cannot read;
#                          in the root PKG_ROOT when set, else this system
#   pkg_in CMD...          run CMD in PKG_ROOT (chroot), or here
#   pkg_unit_setpriv UNIT  PKG_SETPRIV: the setpriv command that makes a
#                          process what UNIT makes its ExecStart= (User=,
#                          Group=, SupplementaryGroups=,
#                          AmbientCapabilities=, CapabilityBoundingSet=)
#   pkg_credentials DIR KEY
#                          DIR as systemd's LoadCredential= makes it where
#                          it has no ACLs: rotad's, 0500, with master.key a
#                          copy of KEY (rotad's, 0400); both in PKG_ROOT
#                          when set
#   pkg_notify_listen SOCK LOG
#                          a Type=notify socket as systemd's: each datagram
#                          a line of LOG; sets NPID, for the caller to kill
#   pkg_notified LOG WHAT [COUNT]
#                          wait up to 10 s until LOG holds WHAT COUNT times
#   pkg_siem_files DIR     rotad-siem's siem.crt and siem.key (EC, for IP
#                          127.0.0.1) and siem.secret (an HMAC key) in DIR
#   pkg_hmac KEYFILE       HMAC-SHA256 of stdin, hex, keyed with KEYFILE's
#                          contents (less a final newline), as rotad-siem
#                          checks a signature; the key never in an argv
#   pkg_boot DIR           this system booted with systemd as PID 1, in a
#                          container (systemd-nspawn) whose writes go to a
#                          tmpfs in DIR: the units run for real (below)
#   pkg_booted CMD...      run CMD in that container
#   pkg_booted_put FILE [MODE]
#                          stdin to FILE in that container (MODE: 0644)
#   pkg_boot_stop          end it; safe in a trap, whether or not it began

KEY=/etc/rotad/master.key
STORE=/var/lib/rotad/rotad.db
PKG_ROOT=${PKG_ROOT:-}

pkg_in() {
	if [ -n "$PKG_ROOT" ]; then
		chroot "$PKG_ROOT" "$@"
	else
		"$@"
	fi
}

pkg_preflight() {
	local c
	if [ "$(id -u)" -ne 0 ]; then
		echo "1..0 # SKIP needs root: it installs the package into this system"
		exit 0
	fi
	for c in "$@"; do
		if ! command -v "$c" >/dev/null; then
			echo "1..0 # SKIP needs $c (scripts/install-deps --packaging)"
			exit 0
		fi
	done
	exec 9>/run/lock/rotad-packaging-test.lock
	if ! flock -w 900 9; then
		echo "1..0 # SKIP another package test holds the lock"
		exit 0
	fi
}

pkg_had_users=
pkg_users_remember() {
	local u
	for u in rotad rotad-worker rotad-siem; do
		getent passwd "$u" >/dev/null && pkg_had_users="$pkg_had_users $u"
	done
}

pkg_users_restore() {
	local u
	for u in rotad-siem rotad-worker rotad; do
		case " $pkg_had_users " in *" $u "*) continue ;; esac
		getent passwd "$u" >/dev/null && userdel "$u" 2>/dev/null
		getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
	done
}

pkg_build() {
	local what=$1 script=$2 glob=$3 st
	PKG=${4:-}
	if [ -z "$PKG" ]; then
		"$script" "$T/pkgs" >"$T/build.log" 2>&1
		st=$?
		# shellcheck disable=SC2086
		PKG=$(ls "$T"/pkgs/$glob 2>/dev/null | head -n 1)
		[ "$st" -eq 0 ] && [ -n "$PKG" ]
		verdict "$what" $? "$(tail -20 "$T/build.log")"
		if [ -n "$PKG" ] && [ -n "${ROTAD_TEST_PKGS:-}" ]; then
			mkdir -p "$ROTAD_TEST_PKGS" && cp "$PKG" "$ROTAD_TEST_PKGS"/
		fi
	fi
	if [ -z "$PKG" ] || [ ! -f "$PKG" ]; then
		not_ok "a package to check" "no package: ${PKG:-none built}"
		echo "1..$n"
		exit 1
	fi
}

# stat's "owner:group mode" of PATH.
perms() { pkg_in stat -c '%U:%G %a' "$1" 2>&1; }

pkg_check_layout() {
	local duid dgid dhome dshell wuid wgid whome wshell suid sgid shome sshell
	local sysmax out f reads

	# Both system users with no login; rotad's home is the state, the
	# worker has none; neither is in the other's group, nor in root's.
	IFS=: read -r _ _ duid dgid _ dhome dshell <<<"$(pkg_in getent passwd rotad)"
	IFS=: read -r _ _ wuid wgid _ whome wshell <<<"$(pkg_in getent passwd rotad-worker)"
	sysmax=$(pkg_in cat /etc/login.defs | awk '$1 == "SYS_UID_MAX" { print $2 }')
	[ -n "$duid" ] && [ -n "$wuid" ] && [ "$duid" -lt "${sysmax:-999}" ] &&
	    [ "$wuid" -lt "${sysmax:-999}" ] && [ "$duid" -ne 0 ] &&
	    [ "$wuid" -ne 0 ] && [ "$dgid" -ne 0 ] && [ "$wgid" -ne 0 ] &&
	    [ "$dgid" != "$wgid" ] &&
	    [ "$(pkg_in getent group "$dgid" | cut -d: -f1)" = rotad ] &&
	    [ "$(pkg_in getent group "$wgid" | cut -d: -f1)" = rotad-worker ] &&
	    [ "$dhome" = /var/lib/rotad ] && ! pkg_in test -e "$whome" &&
	    [ "${dshell##*/}" = nologin ] && [ "${wshell##*/}" = nologin ] &&
	    [ "$(pkg_in id -G rotad-worker)" = "$wgid" ] &&
	    [ "$(pkg_in id -G rotad)" = "$dgid" ]
	verdict "users rotad and rotad-worker: system users with groups of their own, no login; rotad-worker has no home" $? \
	    "$(pkg_in getent passwd rotad rotad-worker)" \
	    "$(pkg_in id rotad; pkg_in id rotad-worker)"

	# rotad-siem's, for its unit: in no group but its own (the unit
	# adds rotad's in that service alone), no home, no login.
	IFS=: read -r _ _ suid sgid _ shome sshell <<<"$(pkg_in getent passwd rotad-siem)"
	[ -n "$suid" ] && [ "$suid" -lt "${sysmax:-999}" ] && [ "$suid" -ne 0 ] &&
	    [ "$sgid" -ne 0 ] && [ "$sgid" != "$dgid" ] &&
	    [ "$(pkg_in getent group "$sgid" | cut -d: -f1)" = rotad-siem ] &&
	    [ "$(pkg_in id -G rotad-siem)" = "$sgid" ] &&
	    ! pkg_in test -e "$shome" && [ "${sshell##*/}" = nologin ]
	verdict "user rotad-siem: a system user in its own group alone, no home, no login" $? \
	    "$(pkg_in getent passwd rotad-siem)" "$(pkg_in id rotad-siem)"

	[ "$(perms /etc/rotad)" = "root:rotad 750" ] &&
	    [ "$(perms /etc/rotad/rotad.yaml)" = "root:root 644" ] &&
	    [ "$(perms /etc/rotad/conf.d)" = "root:root 755" ] &&
	    [ -z "$(pkg_in ls -A /etc/rotad/conf.d)" ]
	verdict "/etc/rotad root:rotad 0750, rotad.yaml root's 0644, conf.d empty" $? \
	    "$(pkg_in ls -la /etc/rotad /etc/rotad/conf.d)"

	[ "$(perms /var/lib/rotad)" = "rotad:rotad 700" ] &&
	    [ "$(perms /run/rotad)" = "rotad:rotad 750" ]
	verdict "/var/lib/rotad rotad:rotad 0700, /run/rotad rotad:rotad 0750" $? \
	    "$(perms /var/lib/rotad) $(perms /run/rotad)"

	[ "$(perms "$KEY")" = "root:root 600" ] &&
	    [ "$(pkg_in stat -c %s "$KEY")" = 32 ] &&
	    [ "$(perms "$STORE")" = "rotad:rotad 600" ] &&
	    pkg_in test -s "$STORE"
	verdict "the master key is root's (0600, 32 bytes), the store rotad's (0600)" $? \
	    "$(pkg_in ls -la /etc/rotad /var/lib/rotad)"

	out=$(pkg_in rotad -n 2>&1)
	verdict "rotad -n passes on the fresh install" $? "$out"

	# Workers run as rotad-worker: whatever a target or a script makes
	# of one, the key, the store and the configuration are out of its
	# reach.  rotad itself cannot read the key file either: the unit
	# hands it over as a credential.
	reads=
	for f in "$KEY" "$STORE" /etc/rotad/rotad.yaml; do
		pkg_in runuser -u rotad-worker -- cat "$f" >/dev/null 2>&1 &&
		    reads="$reads rotad-worker:$f"
	done
	pkg_in runuser -u rotad -- cat "$KEY" >/dev/null 2>&1 &&
	    reads="$reads rotad:$KEY"
	[ -z "$reads" ]
	verdict "rotad-worker reads neither the master key, nor the store, nor rotad.yaml; rotad not the key file" $? \
	    "read:$reads"
}

pkg_unit_setpriv() {
	local unit=$1 user group amb bnd supp groups=--init-groups g
	user=$(sed -n 's/^User=//p' "$unit")
	group=$(sed -n 's/^Group=//p' "$unit")
	# The user's groups, as --init-groups has them, and then these.
	supp=$(sed -n 's/^SupplementaryGroups=//p' "$unit")
	if [ -n "$supp" ]; then
		groups=$(pkg_in id -G "${user:-root}")
		for g in $supp; do
			groups="$groups $(pkg_in getent group "$g" | cut -d: -f3)"
		done
		# shellcheck disable=SC2086
		groups=--groups=$(printf '%s\n' $groups | paste -sd, -)
	fi
	# "CAP_SETUID CAP_KILL" -> +setuid,+kill
	amb=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z ' 'a-z\n' |
	    sed -n 's/^cap_/+/p' | paste -sd, -)
	bnd=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z ' 'a-z\n' |
	    sed -n 's/^cap_/+/p' | paste -sd, -)
	PKG_SETPRIV=(setpriv --reuid="${user:-root}" --regid="${group:-root}"
	    "$groups" --inh-caps="-all${amb:+,$amb}"
	    --ambient-caps="${amb:--all}" --bounding-set="-all${bnd:+,$bnd}")
}

pkg_credentials() {
	pkg_in mkdir -p "$1" &&
	    pkg_in install -o rotad -g rotad -m 0400 "$2" "$1/master.key" &&
	    pkg_in chown rotad:rotad "$1" && pkg_in chmod 0500 "$1"
}

pkg_notify_listen() {
	python3 - "$1" "$2" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode(errors="replace").replace("\n", " ") + "\n")
EOF
	NPID=$!
	local i
	for i in $(seq 50); do [ -S "$1" ] && return 0; sleep 0.1; done
	return 1
}

pkg_notified() {
	local _
	for _ in $(seq 100); do
		[ "$(grep -c "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}

pkg_siem_files() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 -keyout "$1/siem.key" \
	    -out "$1/siem.crt" >/dev/null 2>&1 &&
	    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1/siem.secret"
}

pkg_hmac() {
	python3 -c 'import hashlib, hmac, sys
key = open(sys.argv[1], "rb").read().rstrip(b"\n")
print(hmac.new(key, sys.stdin.buffer.read(), hashlib.sha256).hexdigest())' "$1"
}

# systemd is not PID 1 on the test hosts, so pkg_boot boots this system in
# a container, with systemd as its PID 1: the package as installed here,
# under systemd's own hands (the units' sandboxes, credentials, sockets,
# file descriptor store, restarts).  The container's root is an overlay:
# this system's / below, read-only, and a tmpfs above, in DIR, that takes
# its writes (a file it replaces is replaced there alone).  It has a
# network namespace of its own with only loopback, and it boots
# rotad-boot.target (written into the overlay), which wants rotad.service:
# none of this system's other services start there.  An image made for
# containers may have a policy-rc.d that forbids every start and stop
# (exit 101); it is removed in the container, which is a booted system, so
# that a package's scripts start and stop their units as on a host.  The
# mounts are in a mount namespace of nspawn's own, so they go with it
# however it ends.
#
# nspawn's own seccomp filter (systemd 252) answers Landlock's calls with
# EPERM, which rotad-worker takes for a sandbox it cannot trust and
# refuses; --system-call-filter allows them, as a host's kernel does.
#
# Sets BOOT_NSPAWN (nspawn's pid) and BOOT_PID1 (the container's systemd,
# as this system sees it), and returns once systemd says the boot is over
# (running or degraded; 60 s at most); 1 with the console's tail on
# stderr otherwise.
BOOT_NSPAWN= BOOT_PID1= BOOT_NAME=
pkg_boot() {
	local dir=$1 i state
	BOOT_NAME=rotad-test-$$
	mkdir -p "$dir" || return 1
	printf '%s\n' '[Unit]' \
	    'Description=rotad under systemd as PID 1 (tests/packaging/lib.sh)' \
	    'Requires=basic.target' 'Wants=rotad.service' \
	    'After=basic.target rotad.service' 'AllowIsolate=yes' \
	    >"$dir/rotad-boot.target" || return 1
	unshare -m --propagation private sh -c '
		dir=$1
		shift
		mkdir -p "$dir/up" "$dir/root" &&
		    mount -t tmpfs -o mode=0755 tmpfs "$dir/up" &&
		    mkdir "$dir/up/u" "$dir/up/w" &&
		    mount -t overlay overlay \
			-o "lowerdir=/,upperdir=$dir/up/u,workdir=$dir/up/w" \
			"$dir/root" &&
		    cp "$dir/rotad-boot.target" "$dir/root/etc/systemd/system/" &&
		    rm -f "$dir/root/usr/sbin/policy-rc.d" || exit 125
		exec systemd-nspawn -D "$dir/root" "$@"' sh "$dir" \
	    -M "$BOOT_NAME" --register=no --keep-unit --private-network \
	    --system-call-filter='landlock_create_ruleset landlock_add_rule landlock_restrict_self' \
	    -b systemd.unit=rotad-boot.target </dev/null >"$dir/console.log" 2>&1 &
	BOOT_NSPAWN=$!
	for i in $(seq 100); do
		BOOT_PID1=$(pgrep -P "$BOOT_NSPAWN" -x systemd) && break
		kill -0 "$BOOT_NSPAWN" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$BOOT_PID1" ]; then
		echo "pkg_boot: no systemd in the container:" >&2
		tail -n 20 "$dir/console.log" >&2
		return 1
	fi
	# Its bus comes a moment after it does.
	for i in $(seq 100); do
		pkg_booted test -S /run/systemd/private && break
		sleep 0.1
	done
	state=$(timeout 60 nsenter -t "$BOOT_PID1" -a \
	    systemctl is-system-running --wait 2>&1)
	case $state in
	running | degraded) return 0 ;;
	esac
	echo "pkg_boot: the boot did not finish: ${state:-no answer}" >&2
	tail -n 20 "$dir/console.log" >&2
	return 1
}

pkg_booted() {
	nsenter -t "${BOOT_PID1:?no container}" -a -- "$@"
}

pkg_booted_put() {
	pkg_booted sh -c 'umask 077 && cat >"$1" && chmod "$2" "$1"' sh \
	    "$1" "${2:-0644}"
}

pkg_boot_stop() {
	# Its PID 1 killed, the kernel kills every process of its PID
	# namespace; nspawn gone, nothing holds the mount namespace.
	[ -n "$BOOT_PID1" ] && kill -KILL "$BOOT_PID1" 2>/dev/null
	[ -n "$BOOT_NSPAWN" ] && kill -KILL "$BOOT_NSPAWN" 2>/dev/null &&
	    wait "$BOOT_NSPAWN" 2>/dev/null
	# nspawn leaves this behind where /run is no tmpfs.
	[ -n "$BOOT_NAME" ] && rm -rf "/run/systemd/nspawn/propagate/$BOOT_NAME"
	BOOT_NSPAWN= BOOT_PID1=
}
