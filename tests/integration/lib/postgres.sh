# shellcheck shell=bash
# A private PostgreSQL 15 server for integration tests: source this file,
# then
#
#   T=$(mktemp -d /tmp/rotad-x.XXXXXX)
#   trap 'pg_stop; rm -rf "$T"' EXIT
#   pg_start "$T/pg" log_statement=all || exit 1
#   (job files: tls: {ca_file: $PG_CA_FILE})
#   pg_sql "CREATE ROLE app LOGIN"
#   pg_set_password app "$T/app.pw"
#   pg_login app "$T/app.pw" && echo "app logs in"
#
# The server runs as the postgres OS user (it refuses root) on 127.0.0.1
# and a free port, with its socket in its own directory, and asks every
# client for a SCRAM password, the superuser too.  It speaks TLS (ssl=on)
# with a certificate for IP 127.0.0.1 signed by a CA of its own, made with
# the openssl CLI in DIR.tls beside the cluster (root's, so that rotad
# trusts it; removed with DIR's parent, or by the caller): rotad verifies
# a server by default, so job files name that CA with
# tls: {ca_file: $PG_CA_FILE}, and wire.py requests with tls_ca_file.
# Needs root (runuser) and the postgresql-15 package; no function prints
# a password.
#
# A password file holds the password, optionally followed by newlines
# (which are not part of it, as with "$(cat FILE)").  Passwords reach psql
# only through PGPASSWORD in the environment of that one child, never its
# argv; pg_set_password sends the server a SCRAM verifier computed here,
# so the plaintext is not in the server's log even with log_statement=all.
#
# Exports: PG_DIR (the directory given to pg_start: socket, log, password
# file), PG_DATA (the cluster), PG_LOG (the server's log), PGPORT_T (the
# port), PG_SUPERPW_FILE (the superuser's password), PG_TLS_DIR (DIR.tls:
# the CA, its key, the server's certificate and key), PG_CA_FILE (the CA's
# certificate, world-readable), PG_BIN.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_BIN

# pg_make_tls DIR: a CA (ca.pem, ca.key) and a certificate for IP
# 127.0.0.1 it signed (server.pem, server.key, the server's to read) in a
# new directory DIR, root's, mode 755: the worker, as nobody, reads
# ca.pem.  0, or 1 with openssl's complaint on stderr.
pg_make_tls() {
	local out
	mkdir -m 755 "$1" || return 1
	if ! out=$(cd "$1" && {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout ca.key -out ca.pem -days 2 \
		    -subj "/CN=rotad test CA" &&
		    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout server.key -out server.csr \
			-subj /CN=127.0.0.1 &&
		    printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
		    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 2 \
			-extfile san.ext &&
		    chmod 600 ca.key server.key && chmod 644 ca.pem &&
		    chown postgres server.key server.pem
	} 2>&1); then
		echo "pg_make_tls: $out" >&2
		return 1
	fi
}

# A TCP port that was free on 127.0.0.1 a moment ago.
pg_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# pg_start DIR [NAME=VALUE...]: create a cluster in DIR/data (DIR is
# created, and given to postgres, whose account must be able to reach it:
# /tmp/x is fine, a directory inside a private mktemp -d is not) and start
# it, each NAME=VALUE a server setting (e.g. log_statement=all).  Returns 0
# once it accepts connections, else 1 with the reason on stderr.
pg_start() {
	local dir=$1 opts="" kv port _
	shift
	if [ ! -x "$PG_BIN/initdb" ]; then
		echo "pg_start: $PG_BIN/initdb not found" >&2
		return 1
	fi
	case $dir in
	*[[:space:]]*)
		echo "pg_start: $dir: no spaces, please (pg_ctl -o)" >&2
		return 1
		;;
	esac
	mkdir -p "$dir" || return 1
	dir=$(realpath "$dir")
	chown postgres:postgres "$dir" && chmod 700 "$dir" || return 1
	if ! runuser -u postgres -- test -w "$dir"; then
		echo "pg_start: postgres cannot reach $dir" >&2
		return 1
	fi
	PG_DIR=$dir
	PG_DATA=$dir/data
	PG_LOG=$dir/server.log
	PG_SUPERPW_FILE=$dir/superuser.pw
	PG_TLS_DIR=$dir.tls
	PG_CA_FILE=$PG_TLS_DIR/ca.pem
	export PG_DIR PG_DATA PG_LOG PG_SUPERPW_FILE PG_TLS_DIR PG_CA_FILE
	pg_make_tls "$PG_TLS_DIR" || return 1

	# The superuser's password, random, in a file only postgres and
	# root read; initdb reads it with --pwfile.
	(umask 077 && python3 -c 'import secrets
print(secrets.token_urlsafe(24))' >"$PG_SUPERPW_FILE") || return 1
	chown postgres:postgres "$PG_SUPERPW_FILE" || return 1
	if ! runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" \
	    -U postgres --pwfile="$PG_SUPERPW_FILE" \
	    --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
	    -E UTF8 --locale=C --no-sync --no-instructions \
	    >"$dir/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		tail -n 20 "$dir/initdb.log" >&2
		return 1
	fi
	opts=" -c ssl=on -c ssl_cert_file=$PG_TLS_DIR/server.pem"
	opts="$opts -c ssl_key_file=$PG_TLS_DIR/server.key"
	for kv in "$@"; do
		opts="$opts -c $kv"
	done
	# The port is free when picked but may be taken before the server
	# binds it: try another one then.
	for _ in 1 2 3; do
		port=$(pg_free_port) || return 1
		if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" \
		    -l "$PG_LOG" -w -t 60 -o "-p $port -k $dir \
		    -c listen_addresses=127.0.0.1$opts" start >/dev/null; then
			PGPORT_T=$port
			export PGPORT_T
			return 0
		fi
		grep -q 'could not bind\|could not create listen' "$PG_LOG" \
		    2>/dev/null || break
	done
	echo "pg_start: the server did not start:" >&2
	tail -n 20 "$PG_LOG" >&2 2>/dev/null
	return 1
}

# pg_stop: stop the server pg_start started (fast shutdown; SIGKILL to its
# postmaster, by the PID in its pid file, if that fails).  Idempotent, and
# safe in an EXIT trap whether or not pg_start got anywhere.
pg_stop() {
	local pid
	[ -n "${PG_DATA:-}" ] || return 0
	[ -f "$PG_DATA/postmaster.pid" ] || return 0
	pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)
	if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast \
	    -w -t 30 stop >/dev/null 2>&1; then
		case $pid in
		'' | *[!0-9]*) ;;
		*) kill -KILL "$pid" 2>/dev/null ;;
		esac
	fi
	return 0
}

# pg_psql USER PASSWORD_FILE [psql arguments...]: psql over TCP as USER,
# the password from the file; no psqlrc, no password prompt or file.
pg_psql() {
	local user=$1 pwfile=$2
	shift 2
	PGPASSWORD=$(cat "$pwfile") PGPASSFILE=/dev/null \
	    PGSSLMODE=verify-full PGSSLROOTCERT=$PG_CA_FILE \
	    PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10 \
	    "$PG_BIN/psql" -X -w -q -h 127.0.0.1 -p "$PGPORT_T" -U "$user" \
	    -d postgres "$@"
}

# pg_sql SQL: run SQL as the superuser; prints the rows, unaligned, one per
# line.  Returns psql's status (an SQL error fails it).
pg_sql() {
	pg_psql postgres "$PG_SUPERPW_FILE" -tA -v ON_ERROR_STOP=1 -c "$1"
}

# pg_login USER PASSWORD_FILE: 0 iff USER logs in with that password (and
# runs a query).  psql's complaint, if any, goes to stderr.
pg_login() {
	pg_psql "$1" "$2" -tA -c 'select 1' >/dev/null
}

# pg_verifier PASSWORD_FILE: the SCRAM-SHA-256 verifier of the password,
# as PostgreSQL stores it (RFC 5802/7677; 4096 iterations, 16-byte salt).
# ASCII passwords need no SASLprep, which this does not do.
pg_verifier() {
	python3 - "$1" <<'EOF'
import base64, hashlib, hmac, os, sys
pw = open(sys.argv[1], "rb").read().rstrip(b"\n")
salt, it = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", pw, salt, it)
ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
sk = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
b64 = lambda b: base64.b64encode(b).decode()
print("SCRAM-SHA-256$%d:%s$%s:%s" % (it, b64(salt),
    b64(hashlib.sha256(ck).digest()), b64(sk)))
EOF
}

# pg_set_password ROLE PASSWORD_FILE: set ROLE's password (as the
# superuser) to the one in the file, sending only its verifier, on stdin.
pg_set_password() {
	local v
	v=$(pg_verifier "$2") || return 1
	case $1 in
	*'"'*)
		echo "pg_set_password: bad role name" >&2
		return 1
		;;
	esac
	printf 'ALTER ROLE "%s" PASSWORD '\''%s'\'';\n' "$1" "$v" |
	    pg_psql postgres "$PG_SUPERPW_FILE" -tA -v ON_ERROR_STOP=1 -f -
}

# pg_lock_role ROLE SECONDS: the superuser locks ROLE's row of pg_authid
# (an open transaction that altered it, then pg_sleep) for SECONDS, in the
# background: its pid in LOCK, for the caller to wait for or end (its
# trap).  Returns once the lock is held (20 s at most).  Not in $(...).
pg_lock_role() {
	local i
	pg_sql "BEGIN; ALTER ROLE $1 CONNECTION LIMIT 5; SELECT pg_sleep($2); ROLLBACK;" >/dev/null 2>&1 &
	LOCK=$!
	for i in $(seq 1 200); do
		[ "$(pg_sql "select count(*) from pg_stat_activity where query like 'BEGIN; ALTER ROLE $1 CONNECTION%' and state = 'active'")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}

# pg_lock_waiter: until a session of rotad's (application_name rotad)
# waits on a lock; 30 s at most.
pg_lock_waiter() {
	local i
	for i in $(seq 1 300); do
		[ "$(pg_sql "select count(*) from pg_stat_activity where application_name = 'rotad' and wait_event_type = 'Lock'")" -ge 1 ] && return 0
		sleep 0.1
	done
	return 1
}
