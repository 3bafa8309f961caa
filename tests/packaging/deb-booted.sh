# shellcheck shell=bash
# tests/packaging/deb-booted.sh: deb.sh's cases under systemd as PID 1,
# sourced by deb.sh once the package is purged there; booted_cases runs
# them.  It uses deb.sh's T (its directory), DEB (the package), JOB (the
# job file's path), ROOT (the tree) and $T/job.yaml and $T/scripts (the
# script user's job and scripts), and lib.sh's pkg_boot.
#
# This system, the package purged and its users removed again, booted in
# a container with systemd as its PID 1 (lib.sh's pkg_boot: an overlay of
# /, its writes its own; its network loopback alone).  The package is
# installed there with systemd running, so the postinst's enabling and
# start are systemd's; then systemd runs the units for real: the daemon in
# its sandbox with its credential, reloaded, rotating a script user and a
# PostgreSQL role (a server started in the container), killed
# mid-rotation; rotad-siem, enabled as docs/siem.md says, from its socket
# with its store, replaced on disk, killed, stopped alone and turned off;
# both restarted by an upgrade, stopped and started with rotad; the
# package purged.
boot_siem_files() { # rotad-siem's certificate, key and HMAC key, in $T/boot
	pkg_siem_files "$T/boot" &&
	    for f in siem.crt siem.key siem.secret; do
		pkg_booted_put "/etc/rotad/$f" 0600 <"$T/boot/$f" || return 1
	    done
}
# boot_post ALERT TS: deb-test's rotation asked of the container's
# rotad-siem for alert ALERT, signed with time TS; its answer and the
# HTTP status on the last line.
boot_post() {
	local body sig
	body="{\"alert_id\":\"$1\",\"users\":[\"deb-test\"]}"
	sig=$(printf '%s.%s' "$2" "$body" | pkg_hmac "$T/boot/siem.secret")
	nsenter -t "$BOOT_PID1" -n curl -sS -m 30 -w '\n%{http_code}\n' \
	    --cacert "$T/boot/siem.crt" -H "X-Rotad-Timestamp: $2" \
	    -H "X-Rotad-Signature: sha256=$sig" --data-binary "$body" \
	    https://127.0.0.1:8443/v1/rotate 2>&1
}
boot_show() { pkg_booted systemctl show -p "$2" --value "$1" 2>&1; }
boot_journal() { pkg_booted journalctl -q -o cat -u "$1" 2>&1; }
boot_bound() { # the bound rotad-siem's last start logged
	boot_journal rotad-siem |
	    sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' | tail -n 1
}
boot_starts() { # how many starts of rotad-siem logged their bound
	boot_journal rotad-siem | grep -c 'refusing timestamps before'
}
boot_wait_start() { # until the start after the $1th has logged its bound
	for _ in $(seq 150); do
		[ "$(boot_starts)" -gt "$1" ] &&
		    [ "$(boot_show rotad-siem ActiveState)" = active ] && return 0
		sleep 0.1
	done
	return 1
}
# boot_pg: a PostgreSQL server in the container (the tests' own
# lib/postgres.sh, copied in: the tree may be under /tmp, which is the
# container's own tmpfs; on its 127.0.0.1), an admin role and a role app, the
# job that names them, and app rotated by the daemon.  0 when the rotation
# committed and app logs in with the stored password and not the first.
# What it did in $T/boot-pg.log.
boot_pg() {
	local pg port ca lib=/srv/rotad-test/postgres.sh
	pkg_booted_put "$lib" <"$ROOT/tests/integration/lib/postgres.sh" ||
	    return 1
	pg=$(pkg_booted bash -c '. "$1" && pg_start /srv/rotad-pg >&2 &&
	    echo "$PGPORT_T $PG_CA_FILE"' sh "$lib" 2>"$T/boot-pg.log") ||
	    return 1
	read -r port ca <<<"$pg"
	printf '%s\n' resources: '  pg:' '    kind: database' \
	    '    host: 127.0.0.1' "    port: $port" '    protocol: postgresql' \
	    "    tls: {ca_file: $ca}" '    admin_user: pg-admin' users: \
	    '  pg-admin: {login: rotadmin, resource: pg, managed: false}' \
	    '  app: {login: app, resource: pg}' >"$T/boot/pg.yaml"
	pkg_booted_put /etc/rotad/conf.d/zz-deb-test-pg.yaml <"$T/boot/pg.yaml" &&
	    pkg_booted bash -c '. "$1" &&
		PG_DIR=/srv/rotad-pg PG_SUPERPW_FILE=/srv/rotad-pg/superuser.pw
		PGPORT_T=$2 PG_CA_FILE=$3 && d=/srv/rotad-pg-pw &&
		mkdir -m 0700 $d && umask 077 &&
		for u in admin app; do
			python3 -c "import secrets; print(secrets.token_urlsafe(24))" >$d/$u.pw
		done &&
		pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" &&
		pg_sql "CREATE ROLE app LOGIN" &&
		pg_set_password rotadmin $d/admin.pw &&
		pg_set_password app $d/app.pw &&
		systemctl reload rotad &&
		rotactl secret set pg-admin <$d/admin.pw &&
		rotactl secret set app <$d/app.pw &&
		timeout 60 rotactl rotate --wait app &&
		rotactl secret get app >$d/new.pw &&
		pg_login app $d/new.pw && echo "app logs in with the stored password" &&
		! pg_login app $d/app.pw 2>/dev/null && echo "and not with the first"' \
		sh "$lib" "$port" "$ca" >>"$T/boot-pg.log" 2>&1 &&
	    grep -q '^and not with the first$' "$T/boot-pg.log"
}
# boot_crash: a user whose rotate script takes 30 s, its rotation
# started, rotad's main process killed while the script runs (bash: no
# other bash runs in the container).  (The
# worker may exec the script's interpreter and nothing more, so no
# sleep(1): bash waits on its own clock.)  0 when no
# process of the first life is left, systemd started rotad again, and the
# run ended (committed or failed) with nothing running or queued.  What
# it saw in $T/boot-crash.log.
boot_crash() {
	local run p1 state
	printf 'read -r line\nwhile [ "$SECONDS" -lt 30 ]; do :; done\necho rotated\n' |
	    pkg_booted_put /srv/rotad-test/slow.sh &&
	    printf '%s\n' resources: '  deb-slow-svc:' '    kind: api' \
		'    protocol: script' \
		'    rotate_script: {path: /srv/rotad-test/slow.sh, command: /bin/bash}' \
		'    verify_script: {path: /srv/rotad-test/verify.sh, command: /bin/sh}' \
		users: '  deb-slow: {login: deb-slow, resource: deb-slow-svc}' |
	    pkg_booted_put /etc/rotad/conf.d/zz-deb-test-slow.yaml &&
	    pkg_booted systemctl reload rotad &&
	    printf 'first-secret-of-deb-slow\n' |
	    pkg_booted rotactl secret set deb-slow >/dev/null || return 1
	run=$(pkg_booted rotactl --json rotate deb-slow 2>&1 |
	    jget 'j["run"]' 2>/dev/null) || return 1
	for _ in $(seq 100); do
		pkg_booted pgrep -x bash >/dev/null && break
		sleep 0.1
	done
	p1=$(boot_show rotad MainPID)
	echo "run $run; the script runs: $(pkg_booted pgrep -a -x bash)" >"$T/boot-crash.log"
	pkg_booted pgrep -x bash >/dev/null || return 1
	pkg_booted systemctl kill -s KILL --kill-who=main rotad || return 1
	for _ in $(seq 50); do
		[ "$(boot_show rotad SubState)" = auto-restart ] && break
		sleep 0.1
	done
	echo "after the kill: $(boot_show rotad SubState); left: $(pkg_booted pgrep -a 'rotad|bash')" >>"$T/boot-crash.log"
	[ "$(boot_show rotad SubState)" = auto-restart ] &&
	    [ -z "$(pkg_booted pgrep 'rotad|bash')" ] || return 1
	for _ in $(seq 200); do
		[ "$(boot_show rotad ActiveState)" = active ] &&
		    [ "$(boot_show rotad MainPID)" != "$p1" ] && break
		sleep 0.1
	done
	for _ in $(seq 300); do
		state=$(pkg_booted rotactl --json run "$run" 2>/dev/null |
		    jget 'j["run"]["state"]' 2>/dev/null)
		case $state in committed | failed) break ;; esac
		sleep 0.1
	done
	echo "restarted: pid $p1 -> $(boot_show rotad MainPID), restarts $(boot_show rotad NRestarts); the run: ${state:-?}" >>"$T/boot-crash.log"
	case $state in committed | failed) ;; *) return 1 ;; esac
	[ "$(boot_show rotad NRestarts)" = 1 ] &&
	    [ "$(pkg_booted rotactl --json status 2>/dev/null |
		jget 'j["running"] + j["queued"]' 2>/dev/null)" = 0 ]
}
booted_cases() {
	local out st p1 p2 lib ts1 ts2 ts3 a1 r1 a2 a3 bound ns starts
	mkdir -p "$T/boot" || return 1
	pkg_boot "$T/boot" 2>"$T/boot.log" &&
	    pkg_booted_put /root/rotad.deb <"$DEB" &&
	    pkg_booted env DEBIAN_FRONTEND=noninteractive dpkg -i /root/rotad.deb \
		>"$T/boot-install.log" 2>&1
	st=$?
	out=$(pkg_booted rotactl --json status 2>&1)
	[ "$st" -eq 0 ] && [ "$(boot_show rotad ActiveState)" = active ] &&
	    [ "$(boot_show rotad UnitFileState)" = enabled ] &&
	    [ "$(printf '%s\n' "$out" | jget 'j["health"]' 2>/dev/null)" = ok ] &&
	    [ "$(pkg_booted systemctl is-active rotad-siem rotad-siem.socket | xargs)" = "inactive inactive" ] &&
	    [ "$(pkg_booted systemctl is-enabled rotad-siem rotad-siem.socket | xargs)" = "disabled disabled" ]
	verdict "dpkg -i under systemd as PID 1 (this system booted in systemd-nspawn): the postinst enables and starts rotad.service, which answers rotactl; rotad-siem and its socket stay stopped and disabled" $? \
	    "$(cat "$T/boot.log" "$T/boot-install.log" 2>/dev/null)" "$out" \
	    "$(pkg_booted systemctl status rotad rotad-siem.socket 2>&1 | tail -n 20)"
	[ "$st" -eq 0 ] || return 1

	sed "s|$T/scripts|/srv/rotad-test|" "$T/job.yaml" >"$T/boot/job.yaml"
	pkg_booted mkdir -m 0755 /srv/rotad-test &&
	    pkg_booted_put /srv/rotad-test/rotate.sh <"$T/scripts/rotate.sh" &&
	    pkg_booted_put /srv/rotad-test/verify.sh <"$T/scripts/verify.sh" &&
	    pkg_booted_put "$JOB" <"$T/boot/job.yaml" &&
	    printf 'control:\n  acl:\n    - {user: rotad-siem, rights: [trigger]}\n' |
	    pkg_booted sh -c 'cat >>/etc/rotad/rotad.yaml' &&
	    pkg_booted systemctl reload rotad &&
	    [ "$(boot_show rotad ActiveState)" = active ] &&
	    pkg_booted rotactl list 2>/dev/null | grep -q '^deb-test '
	verdict "systemctl reload rotad: the new job file loaded, the unit still active" $? \
	    "$(boot_journal rotad | tail -n 10)"

	# A broken job file beside it: named with its line and column in
	# the journal, the other jobs kept, the unit still active.
	printf 'users:\n  deb-broken: {login: x, resource: [\n' |
	    pkg_booted_put /etc/rotad/conf.d/zz-deb-test-broken.yaml &&
	    pkg_booted systemctl reload rotad
	st=$?
	out=$(boot_journal rotad | grep 'zz-deb-test-broken.yaml:[0-9]*:[0-9]*' | tail -n 1)
	[ "$st" -eq 0 ] && [ -n "$out" ] &&
	    [ "$(boot_show rotad ActiveState)" = active ] &&
	    pkg_booted rotactl list 2>/dev/null | grep -q '^deb-test '
	verdict "systemctl reload with a broken job file: the journal names it FILE:LINE:COLUMN, deb-test is kept, the unit still active" $? \
	    "${out:-no line names the file}" "$(boot_journal rotad | tail -n 6)"
	pkg_booted rm -f /etc/rotad/conf.d/zz-deb-test-broken.yaml
	pkg_booted systemctl reload rotad

	out=$(printf 'first-secret-of-deb-test\n' |
	    pkg_booted rotactl secret set deb-test 2>&1 &&
	    pkg_booted rotactl --json rotate deb-test --wait 2>&1)
	[ "$(printf '%s\n' "$out" | tail -n 1 | jget 'j["run"]["state"]' 2>/dev/null)" = committed ]
	verdict "under the unit's sandbox and systemd's credential, a script-provider user rotates to committed" $? \
	    "$out" "$(boot_journal rotad | tail -n 10)"

	boot_pg
	verdict "a PostgreSQL role rotated by the unit's daemon (TCP and TLS to the server from inside the unit's sandbox), its new password logs in, the old one not" $? \
	    "$(cat "$T/boot-pg.log" 2>/dev/null)" "$(boot_journal rotad | tail -n 6)"

	# Killed mid-rotation: systemd ends the rest of its control group
	# (KillMode=control-group: the worker and its script, which the
	# daemon's own record may not see under ProtectProc=invisible), and
	# starts it again after RestartSec=; the new life settles the run.
	boot_crash
	verdict "rotad killed mid-rotation: systemd ends its worker and script with it and starts it again (Restart=on-failure); the run in flight is settled, nothing left running" $? \
	    "$(cat "$T/boot-crash.log" 2>/dev/null)" "$(boot_journal rotad | tail -n 12)"

	# rotad-siem: enabled and started as docs/siem.md says (a start by
	# the socket's first connection would refuse that request).
	boot_siem_files && pkg_booted systemctl enable --now rotad-siem \
	    >/dev/null 2>&1 && boot_wait_start 0
	st=$?
	bound=$(boot_bound)
	while [ "$(date +%s)" -lt "${bound:-0}" ]; do sleep 0.1; done
	ts1=$(date +%s)
	a1=$(boot_post deb-boot-1 "$ts1")
	r1=$(printf '%s\n' "$a1" | head -n 1 | jget 'j["runs"][0]["run"]' 2>/dev/null)
	for _ in $(seq 100); do
		[ "$(pkg_booted rotactl --json run "${r1:-none}" 2>/dev/null |
		    jget 'j["run"]["state"]' 2>/dev/null)" = committed ] && break
		sleep 0.1
	done
	p1=$(boot_show rotad-siem MainPID)
	ns=$(pkg_booted sh -c 'for n in net user; do
		a=$(readlink "/proc/$1/ns/$n") b=$(readlink "/proc/1/ns/$n")
		[ -n "$a" ] && [ -n "$b" ] && [ "$a" != "$b" ] ||
		    echo "$n namespace: ${a:-unread}, PID 1 has ${b:-unread}"
	done' sh "$p1" 2>&1)
	[ "$st" -eq 0 ] && [ "$(printf '%s\n' "$a1" | tail -n 1)" = 202 ] &&
	    [ -z "$ns" ] &&
	    [ "$(pkg_booted rotactl --json run "${r1:-none}" 2>/dev/null |
		jget 'j["run"]["state"]' 2>/dev/null)" = committed ] &&
	    [ "$(boot_show rotad-siem.socket ActiveState)" = active ] &&
	    [ "$(boot_show rotad-siem NFileDescriptorStore)" = 1 ] &&
	    [ "$(pkg_booted stat -c %U "/proc/$p1" 2>/dev/null)" = rotad-siem ] &&
	    boot_journal rotad-siem | grep -q 'listening on https://0.0.0.0:8443/v1/rotate (socket from systemd)'
	verdict "systemctl enable --now rotad-siem: in network and user namespaces of its own, it takes rotad-siem.socket's 0.0.0.0:8443, gives systemd's store its replay file, and a signed request rotates deb-test to committed" $? \
	    "$a1" "$ns" "$(boot_journal rotad-siem | tail -n 10)" \
	    "store: $(boot_show rotad-siem NFileDescriptorStore), user of $p1: $(pkg_booted stat -c %U "/proc/$p1" 2>&1)"

	# A library it runs replaced in the container, as an upgrade does:
	# it ends (3), systemd starts it again after RestartSec= and hands
	# the replay file back.  A request signed in the gap waits in the
	# socket's queue and is taken; the first one again is a replay.
	lib=$(pkg_booted grep -m 1 -o '/[^ ]*libmicrohttpd[^ ]*' "/proc/$p1/maps" 2>/dev/null)
	pkg_booted sh -c 'cp -p "$1" "$1.new" && mv "$1.new" "$1"' sh "${lib:-none}"
	for _ in $(seq 50); do
		[ "$(boot_show rotad-siem SubState)" = auto-restart ] && break
		sleep 0.1
	done
	ts2=$(date +%s)
	a2=$(boot_post deb-boot-2 "$ts2")
	p2=$(boot_show rotad-siem MainPID)
	a3=$(boot_post deb-boot-1 "$ts1")
	[ -n "$lib" ] && [ "$(printf '%s\n' "$a2" | tail -n 1)" = 202 ] &&
	    [ "$(printf '%s\n' "$a3" | tail -n 1)" = 409 ] &&
	    printf '%s\n' "$a3" | grep -q '"replay"' &&
	    [ "$p2" != "$p1" ] && [ "$(boot_show rotad-siem NRestarts)" = 1 ] &&
	    boot_journal rotad-siem | grep -q "replaced on disk since it started" &&
	    boot_journal rotad-siem | tail -n 3 | grep -q 'whose replay cache was handed over'
	verdict "its library replaced: it exits 3, systemd restarts it with its store; a request signed in the gap is taken (202), the first replayed is refused (409 replay)" $? \
	    "library: ${lib:-none mapped}" "signed in the gap: $a2" "replayed: $a3" \
	    "pids $p1 -> $p2, restarts $(boot_show rotad-siem NRestarts)" \
	    "$(boot_journal rotad-siem | tail -n 12)"

	# Killed, it loses what it held: the next start refuses what was
	# signed before it (the file it read at its start was marked empty).
	starts=$(boot_starts)
	ts3=$(date +%s)
	pkg_booted systemctl kill -s KILL rotad-siem && boot_wait_start "$starts"
	st=$?
	a3=$(boot_post deb-boot-3 "$ts3")
	[ "$st" -eq 0 ] && [ "$(printf '%s\n' "$a3" | tail -n 1)" = 401 ] &&
	    printf '%s\n' "$a3" | grep -q '"stale"' &&
	    [ "$(boot_show rotad-siem NRestarts)" = 2 ]
	verdict "killed, systemd restarts it (Restart=on-failure) with nothing handed over: a request signed before that start is refused (401 stale)" $? \
	    "$a3" "$(boot_journal rotad-siem | tail -n 6)"

	# An upgrade (the same package again) restarts the daemon, and
	# with it rotad-siem (Requires=), which keeps its store.
	starts=$(boot_starts)
	p1=$(boot_show rotad MainPID) p2=$(boot_show rotad-siem MainPID)
	pkg_booted env DEBIAN_FRONTEND=noninteractive dpkg -i /root/rotad.deb \
	    >"$T/boot-upgrade.log" 2>&1 && boot_wait_start "$starts"
	st=$?
	[ "$st" -eq 0 ] && [ "$(boot_show rotad ActiveState)" = active ] &&
	    [ "$(boot_show rotad MainPID)" != "$p1" ] &&
	    [ "$(boot_show rotad-siem MainPID)" != "$p2" ] &&
	    boot_journal rotad-siem | tail -n 1 | grep -q 'whose replay cache was handed over' &&
	    pkg_booted rotactl list 2>/dev/null | grep -q '^deb-test '
	verdict "dpkg -i over it (an upgrade): the postinst restarts rotad, and rotad-siem with it, which keeps its replay cache" $? \
	    "$(cat "$T/boot-upgrade.log")" "rotad $p1 -> $(boot_show rotad MainPID)" \
	    "rotad-siem $p2 -> $(boot_show rotad-siem MainPID)" \
	    "$(boot_journal rotad-siem | tail -n 4)" \
	    "rotad: $(boot_show rotad ActiveState)" "$(pkg_booted rotactl list 2>&1)"

	starts=$(boot_starts)
	pkg_booted systemctl stop rotad
	out=$(pkg_booted systemctl is-active rotad rotad-siem rotad-siem.socket 2>&1)
	pkg_booted systemctl start rotad && boot_wait_start "$starts"
	a1=$(pkg_booted systemctl is-active rotad rotad-siem rotad-siem.socket 2>&1)
	[ "$(echo $out)" = "inactive inactive inactive" ] &&
	    [ "$(echo $a1)" = "active active active" ]
	verdict "systemctl stop rotad stops rotad-siem and its socket; systemctl start rotad starts them again (enabled, it is WantedBy=rotad.service)" $? \
	    "after the stop: $(echo $out)" "after the start: $(echo $a1)"

	# Turned off as docs/siem.md says, and why both: the service
	# stopped alone leaves its socket listening, and a connection starts
	# it again (refusing that request as signed before the start).
	starts=$(boot_starts)
	ts1=$(date +%s)
	# The next start in a later second than the signature's.
	while [ "$(date +%s)" -le "$ts1" ]; do sleep 0.1; done
	pkg_booted systemctl stop rotad-siem 2>/dev/null
	out=$(pkg_booted systemctl is-active rotad-siem rotad-siem.socket 2>&1)
	a1=$(boot_post deb-boot-4 "$ts1")
	boot_wait_start "$starts"
	st=$?
	pkg_booted systemctl disable --now rotad-siem.socket rotad-siem >/dev/null 2>&1
	a2=$(pkg_booted systemctl is-active rotad-siem rotad-siem.socket 2>&1)
	a3=$(boot_post deb-boot-5 "$(date +%s)")
	[ "$(echo $out)" = "inactive active" ] && [ "$st" -eq 0 ] &&
	    [ "$(printf '%s\n' "$a1" | tail -n 1)" = 401 ] &&
	    [ "$(echo $a2)" = "inactive inactive" ] &&
	    [ "$(printf '%s\n' "$a3" | tail -n 1)" = 000 ]
	verdict "systemctl stop rotad-siem leaves its socket, whose next connection starts it again (401 stale); disable --now of both turns it off (connections refused)" $? \
	    "stopped alone: $(echo $out)" "then: $a1" "disabled: $(echo $a2)" \
	    "then: $a3"
	pkg_booted systemctl enable --now rotad-siem >/dev/null 2>&1 &&
	    boot_wait_start "$(boot_starts)"

	[ "$(boot_show rotad ActiveState)" = active ] &&
	    pkg_booted env DEBIAN_FRONTEND=noninteractive dpkg --purge rotad \
		>"$T/boot-purge.log" 2>&1
	st=$?
	out=$(pkg_booted ps -e -o pid=,comm=,args= 2>&1 |
	    awk '$2 ~ /^rotad(-worker|-siem)?$/')
	[ "$st" -eq 0 ] && [ -z "$out" ] &&
	    [ -z "$(pkg_booted systemctl list-unit-files rotad.service \
		'rotad-siem.*' --no-legend 2>&1)" ] &&
	    ! pkg_booted test -e /etc/rotad
	verdict "dpkg --purge with both running: the prerm stops them, no process of theirs is left, and systemd knows none of the units" $? \
	    "$(cat "$T/boot-purge.log")" "left: $out" \
	    "$(pkg_booted systemctl list-unit-files rotad.service 'rotad-siem.*' 2>&1)"
}
