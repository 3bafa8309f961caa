#!/bin/bash
# A SIEM's signed request rotates a real PostgreSQL role (issue 14, end to
# end): a private PostgreSQL 15 (lib/postgres.sh), the real daemon with a
# postgresql user job whose secret is seeded with `rotactl secret set`,
# rotad-siem started as root and dropping to a user that control.acl
# grants `trigger` only, and `curl` over HTTPS signing as siem.sh does.
# A signed request is answered 202 with its run; the run commits with
# trigger siem_alert and the alert id; the role's old password no longer
# logs in with psql and the stored new one (`rotactl secret get`) does.
# An unsigned request and a signed one for an unknown user start nothing
# and leave the role alone.  Passwords live in files (mode 600) and are
# never printed.
#   tests/integration/siem_pg.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
SIEM=$B/siem/rotad-siem
HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib/postgres.sh"
. "$HERE/lib/tap.sh"
. "$HERE/lib/rotad.sh"
. "$HERE/lib/siem.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PG_BIN/postgres" ]; then
	echo "1..0 # SKIP needs root and postgresql-15"
	exit 0
fi
if [ ! -x "$SIEM" ]; then
	echo "1..0 # SKIP rotad-siem not built (no libmicrohttpd)"
	exit 0
fi
if ! command -v curl >/dev/null || ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs curl and openssl"
	exit 0
fi

# The test's own files in a private directory; PostgreSQL, which runs as
# postgres, in one of its own that it can reach (lib/postgres.sh).
T=$(mktemp -d /tmp/rotad-siem-pg.XXXXXX)
P=$(mktemp -d /tmp/rotad-siem-pg-db.XXXXXX)
rmdir "$P"
cleanup() {
	stop_siem
	rotad_kill
	pg_stop
	rm -rf "$T" "$P" "$P.tls"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
chmod 711 "$T"
umask 077
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }
nruns() { ctl --json runs -n 1000 | jget 'len(j["runs"])'; }
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$1"; }

siem_begin

echo "1..13"

pg_start "$P" log_statement=all >"$T/pg-start.log" 2>&1
verdict "PostgreSQL starts (TLS, on a free port)" $? "$(cat "$T/pg-start.log")"

newpw "$T/admin.pw"
newpw "$T/old.pw"
out=$({ pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" &&
	pg_sql "CREATE ROLE app LOGIN" &&
	pg_set_password rotadmin "$T/admin.pw" &&
	pg_set_password app "$T/old.pw" && pg_login app "$T/old.pw"; } 2>&1)
verdict "roles rotadmin (CREATEROLE) and app exist; app logs in with its first password" \
    $? "$out"

mkdir "$T/conf.d"
siem_rotad_yaml
cat >"$T/conf.d/pg.yaml" <<EOF
resources:
  pg:
    kind: database
    host: 127.0.0.1
    port: ${PGPORT_T:-1}
    protocol: postgresql
    tls: {ca_file: ${PG_CA_FILE:-/nonexistent}}
    database: postgres
    admin_user: pg-admin
users:
  pg-admin: {login: rotadmin, resource: pg, managed: false, password_file: $T/admin.pw}
  app: {login: app, resource: pg}
EOF
rotad_start "$T/rotad.yaml" "$T/log" &&
    ctl secret set app <"$T/old.pw" >"$T/set.out" 2>&1 &&
    ctl secret get app >"$T/stored.pw" 2>>"$T/set.out" &&
    [ "$(cat "$T/old.pw")" = "$(cat "$T/stored.pw")" ]
verdict "rotad starts with a postgresql job; rotactl secret set seeds app's password" \
    $? "$ROTAD_OUT" "$(cat "$T/set.out")" "$(tail -n 5 "$T/log")"

start_siem "$T/siem.log" --hmac-key-file "$T/hmac.key"
verdict "rotad-siem starts (hmac), dropping root for $SU" $? "$(cat "$T/siem.log")"

N=$(nruns)
out=$(raw -H 'Content-Type: application/json' \
    --data-binary '{"alert_id":"pg-0","users":["app"]}' "$URL")
[ "${out%% *}" = 401 ] && [ "$(nruns)" = "$N" ]
verdict "an unsigned request: 401, nothing started" $? "got: $out" \
    "runs: $(nruns), want $N"
out=$(post '{"alert_id":"pg-1","users":["no-such-user"]}')
[ "${out%% *}" = 422 ] && [ "$(nruns)" = "$N" ] &&
    echo "${out#* }" | grep -q '"not_found"'
verdict "a signed request for an unknown user: 422 not_found, nothing started" $? \
    "got: $out" "runs: $(nruns), want $N"
pg_login app "$T/old.pw" 2>"$T/login.err"
verdict "... and app still logs in with its first password" $? "$(cat "$T/login.err")"

out=$(post '{"alert_id":"splunk-pg-7","users":["app"]}')
run=$(echo "${out#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null)
[ "${out%% *}" = 202 ] && [ -n "$run" ] &&
    [ "$(echo "${out#* }" | jget 'j["runs"][0]["user"]')" = app ]
verdict "a signed request for app: 202 listing its run" $? "$out" \
    "$(tail -n 3 "$T/siem.log")"

committed "${run:-none}" 30
verdict "... the run commits" $? "$(ctl run "${run:-none}" 2>&1)" \
    "$(tail -n 10 "$T/log")"

ev=$(event_of "${run:-none}")
[ "$ev" = "record_rotation_on_demand_ok siem_alert splunk-pg-7" ]
verdict "... rotactl events: its record has trigger siem_alert and the alert id" $? \
    "got: $ev"

pg_login app "$T/old.pw" 2>/dev/null
verdict "psql: app's old password is refused" $((!$?))
ctl secret get app >"$T/new.pw" 2>"$T/get.err" &&
    [ "$(cat "$T/old.pw")" != "$(cat "$T/new.pw")" ] &&
    pg_login app "$T/new.pw" 2>"$T/login.err"
verdict "psql: the new password, read with rotactl secret get, logs in" $? \
    "$(cat "$T/get.err" "$T/login.err" 2>/dev/null)"

# rotad-siem never sees a password; its log holds no key either.
! grep -qF -e "$(tr -d '\n' <"$T/new.pw")" -e "$(tr -d '\n' <"$T/old.pw")" \
    -e "$(cat "$T/hmac.key")" "$T/siem.log" &&
    [ "$(grep -c '^rotad-siem: refused' "$T/siem.log")" = 2 ] &&
    grep -q '^rotad-siem: alert splunk-pg-7 from 127.0.0.1: 1 started' "$T/siem.log"
verdict "rotad-siem's log: the two refusals and the alert, no key, no password" $? \
    "$(cat "$T/siem.log")"
rm -f "$T/new.pw" "$T/stored.pw"

[ "$failed" -eq 0 ]
