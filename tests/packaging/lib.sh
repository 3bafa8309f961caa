# shellcheck shell=bash
# What the package tests share: source it after tests/integration/lib/tap.sh.
#
#   pkg_preflight CMD...   skip (TAP) unless root and each CMD exists; take
#                          the lock that keeps two package tests apart
#   pkg_users_remember     note which of rotad, rotad-worker exist now
#   pkg_users_restore      remove those that did not (the packages keep
#                          their users on removal, a test does not)
#   pkg_build WHAT SCRIPT GLOB [FILE]
#                          set PKG to FILE, or else build with SCRIPT into
#                          $T/pkgs (one case, WHAT) and take the file GLOB
#                          names there; no package ends the test
#   pkg_check_layout       the cases every package must pass once
#                          installed: users, directories, modes, key,
#                          store, rotad -n, what rotad-worker cannot read

KEY=/etc/rotad/master.key
STORE=/var/lib/rotad/rotad.db

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
	for u in rotad rotad-worker; do
		getent passwd "$u" >/dev/null && pkg_had_users="$pkg_had_users $u"
	done
}

pkg_users_restore() {
	local u
	for u in rotad-worker rotad; do
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
	fi
	if [ -z "$PKG" ] || [ ! -f "$PKG" ]; then
		not_ok "a package to check" "no package: ${PKG:-none built}"
		echo "1..$n"
		exit 1
	fi
}

# stat's "owner:group mode" of PATH.
perms() { stat -c '%U:%G %a' "$1" 2>&1; }

pkg_check_layout() {
	local duid dgid dhome dshell wuid wgid whome wshell sysmax out f reads

	# Both system users with no login; rotad's home is the state, the
	# worker has none; neither is in the other's group, nor in root's.
	IFS=: read -r _ _ duid dgid _ dhome dshell <<<"$(getent passwd rotad)"
	IFS=: read -r _ _ wuid wgid _ whome wshell <<<"$(getent passwd rotad-worker)"
	sysmax=$(awk '$1 == "SYS_UID_MAX" { print $2 }' /etc/login.defs)
	[ -n "$duid" ] && [ -n "$wuid" ] && [ "$duid" -lt "${sysmax:-999}" ] &&
	    [ "$wuid" -lt "${sysmax:-999}" ] && [ "$duid" -ne 0 ] &&
	    [ "$wuid" -ne 0 ] && [ "$dgid" -ne 0 ] && [ "$wgid" -ne 0 ] &&
	    [ "$dgid" != "$wgid" ] &&
	    [ "$(getent group "$dgid" | cut -d: -f1)" = rotad ] &&
	    [ "$(getent group "$wgid" | cut -d: -f1)" = rotad-worker ] &&
	    [ "$dhome" = /var/lib/rotad ] && [ ! -e "$whome" ] &&
	    [ "${dshell##*/}" = nologin ] && [ "${wshell##*/}" = nologin ] &&
	    [ "$(id -G rotad-worker)" = "$wgid" ] && [ "$(id -G rotad)" = "$dgid" ]
	verdict "users rotad and rotad-worker: system users with groups of their own, no login; rotad-worker has no home" $? \
	    "$(getent passwd rotad rotad-worker)" "$(id rotad; id rotad-worker)"

	[ "$(perms /etc/rotad)" = "root:rotad 750" ] &&
	    [ "$(perms /etc/rotad/rotad.yaml)" = "root:root 644" ] &&
	    [ "$(perms /etc/rotad/conf.d)" = "root:root 755" ] &&
	    [ -z "$(ls -A /etc/rotad/conf.d)" ]
	verdict "/etc/rotad root:rotad 0750, rotad.yaml root's 0644, conf.d empty" $? \
	    "$(ls -la /etc/rotad /etc/rotad/conf.d)"

	[ "$(perms /var/lib/rotad)" = "rotad:rotad 700" ] &&
	    [ "$(perms /run/rotad)" = "rotad:rotad 750" ]
	verdict "/var/lib/rotad rotad:rotad 0700, /run/rotad rotad:rotad 0750" $? \
	    "$(perms /var/lib/rotad) $(perms /run/rotad)"

	[ "$(perms "$KEY")" = "root:root 600" ] &&
	    [ "$(stat -c %s "$KEY")" = 32 ] &&
	    [ "$(perms "$STORE")" = "rotad:rotad 600" ] && [ -s "$STORE" ]
	verdict "the master key is root's (0600, 32 bytes), the store rotad's (0600)" $? \
	    "$(ls -la /etc/rotad /var/lib/rotad)"

	out=$(rotad -n 2>&1)
	verdict "rotad -n passes on the fresh install" $? "$out"

	# Workers run as rotad-worker: whatever a target or a script makes
	# of one, the key, the store and the configuration are out of its
	# reach.  rotad itself cannot read the key file either: the unit
	# hands it over as a credential.
	reads=
	for f in "$KEY" "$STORE" /etc/rotad/rotad.yaml; do
		runuser -u rotad-worker -- cat "$f" >/dev/null 2>&1 &&
		    reads="$reads rotad-worker:$f"
	done
	runuser -u rotad -- cat "$KEY" >/dev/null 2>&1 && reads="$reads rotad:$KEY"
	[ -z "$reads" ]
	verdict "rotad-worker reads neither the master key, nor the store, nor rotad.yaml; rotad not the key file" $? \
	    "read:$reads"
}
