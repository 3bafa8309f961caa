# shellcheck shell=bash
# A private MariaDB server (Debian 12: 10.11) for integration tests, with
# TLS and the general log: source this file, then
#
#   T=$(mktemp -d /tmp/rotad-x.XXXXXX)
#   trap 'my_stop; rm -rf "$T"' EXIT
#   my_start "$T/my" || exit 1
#   my_sql "CREATE USER 'app'@'%'"
#   my_set_password app % "$T/app.pw"
#   my_login app "$T/app.pw" && echo "app logs in"
#
# The server runs as the mysql OS user on 127.0.0.1 and a free port, with
# its data directory, socket, pid file and logs under the directory given
# to my_start, reads no option file (--no-defaults), resolves no names
# (an account's host part is an address), and logs every statement to
# MY_GENERAL_LOG.  TLS uses a CA made here (MY_CA, and MY_OTHER_CA that
# signed nothing) and a server certificate for IP:127.0.0.1.  Needs root
# and the mariadb-server, mariadb-client and openssl packages; no
# function prints a password.
#
# Passwords reach the mariadb client only through an option file of its
# own (mode 600, --defaults-file, removed after), never its argv nor its
# environment (MYSQL_PWD is visible in /proc/PID/environ to the same
# user, and inherited); my_set_password sends
# the server the native hash computed here, so the plaintext is not in
# the general log either.
#
# Exports: MY_DIR, MY_PORT, MY_SOCKET, MY_GENERAL_LOG, MY_ERROR_LOG,
# MY_CA, MY_OTHER_CA, MY_ROOTPW_FILE.

# A TCP port that was free on 127.0.0.1 a moment ago.
my_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# my_tls DIR: a CA, another CA, and the server's key and certificate for
# IP:127.0.0.1 signed by the first, in DIR (created).  The CAs are
# world-readable (the worker runs as nobody), the key the server's.
my_tls() {
	local d=$1 ca
	mkdir -p "$d" && chmod 755 "$d" || return 1
	(cd "$d" && {
		for ca in ca other; do
			openssl req -x509 -newkey ec \
			    -pkeyopt ec_paramgen_curve:P-256 -nodes \
			    -keyout $ca.key -out $ca.pem -days 2 \
			    -subj "/CN=rotad test $ca" || exit 1
		done
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout server.key -out server.csr \
		    -subj /CN=127.0.0.1 &&
		    printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
		    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 2 \
			-extfile san.ext &&
		    chmod 644 ca.pem other.pem server.pem &&
		    chmod 600 server.key && chown mysql server.key
	}) >"$d/openssl.log" 2>&1
}

# my_start DIR [SERVER OPTION...]: create a data directory in DIR/data
# (DIR is created and given to mysql, which must be able to reach it),
# start the server with TLS and the general log, and set root@localhost's
# password (random, in MY_ROOTPW_FILE).  Returns 0 once it answers, else
# 1 with the reason on stderr.
my_start() {
	local dir=$1 port _ i
	shift
	mkdir -p "$dir" || return 1
	dir=$(realpath "$dir")
	chown mysql:mysql "$dir" && chmod 700 "$dir" || return 1
	if ! runuser -u mysql -- test -w "$dir"; then
		echo "my_start: mysql cannot reach $dir" >&2
		return 1
	fi
	MY_DIR=$dir
	MY_SOCKET=$dir/mysqld.sock
	MY_GENERAL_LOG=$dir/general.log
	MY_ERROR_LOG=$dir/error.log
	MY_ROOTPW_FILE=$dir/root.pw
	MY_CA=$dir.tls/ca.pem
	MY_OTHER_CA=$dir.tls/other.pem
	export MY_DIR MY_SOCKET MY_GENERAL_LOG MY_ERROR_LOG MY_ROOTPW_FILE \
	    MY_CA MY_OTHER_CA
	# The certificates live beside the data directory, root's and
	# world-readable: rotad trusts a CA file only when root (or its own
	# user) owns it and every directory above it, and the worker, a user
	# of its own, must read it.  mysqld reads its key there too.
	chmod 711 "$dir"
	if ! my_tls "$dir.tls"; then
		echo "my_start: cannot make the certificates:" >&2
		cat "$dir.tls/openssl.log" >&2
		return 1
	fi
	if ! mariadb-install-db --no-defaults --user=mysql \
	    --datadir="$dir/data" --auth-root-authentication-method=normal \
	    --skip-test-db >"$dir/install.log" 2>&1; then
		echo "my_start: mariadb-install-db failed:" >&2
		tail -n 20 "$dir/install.log" >&2
		return 1
	fi
	for _ in 1 2 3; do
		port=$(my_free_port) || return 1
		: >"$MY_ERROR_LOG" && chown mysql "$MY_ERROR_LOG"
		/usr/sbin/mariadbd --no-defaults --user=mysql \
		    --datadir="$dir/data" --port="$port" \
		    --bind-address=127.0.0.1 --socket="$MY_SOCKET" \
		    --pid-file="$dir/mysqld.pid" --log-error="$MY_ERROR_LOG" \
		    --skip-log-bin --skip-name-resolve \
		    --general-log --general-log-file="$MY_GENERAL_LOG" \
		    --ssl-ca="$dir.tls/ca.pem" --ssl-cert="$dir.tls/server.pem" \
		    --ssl-key="$dir.tls/server.key" "$@" \
		    </dev/null >/dev/null 2>&1 &
		for i in $(seq 1 100); do
			if mariadb-admin --no-defaults --socket="$MY_SOCKET" \
			    -uroot ping >/dev/null 2>&1; then
				MY_PORT=$port
				export MY_PORT
				(umask 077 && python3 -c 'import secrets
print(secrets.token_urlsafe(24))' >"$MY_ROOTPW_FILE") || return 1
				my_set_password root localhost \
				    "$MY_ROOTPW_FILE" --no-password || return 1
				return 0
			fi
			grep -q 'Aborting' "$MY_ERROR_LOG" 2>/dev/null && break
			sleep 0.1
		done
		grep -q 'Do you already have another server running' \
		    "$MY_ERROR_LOG" 2>/dev/null || break
	done
	echo "my_start: the server did not start:" >&2
	tail -n 20 "$MY_ERROR_LOG" >&2 2>/dev/null
	return 1
}

# my_stop: stop the server my_start started, by the PID in its pid file
# (SIGTERM, then SIGKILL after 30 s).  Idempotent, and safe in an EXIT
# trap whether or not my_start got anywhere.
my_stop() {
	local pid i
	[ -n "${MY_DIR:-}" ] && [ -f "$MY_DIR/mysqld.pid" ] || return 0
	pid=$(cat "$MY_DIR/mysqld.pid" 2>/dev/null)
	case $pid in '' | *[!0-9]*) return 0 ;; esac
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# my_with_password PASSWORD_FILE mariadb ARGS...: run mariadb (or
# mariadb-admin) with the password from the file in a private option file
# read first (--defaults-file: no other option file is read), removed
# after.  The value is quoted for the option file's parser.  The file is
# made in the server's directory, inside the caller's private one: a
# client killed mid-call (batch.sh ends one holding a lock that way)
# leaves it where the caller's cleanup removes it, not in /tmp.
my_with_password() {
	local pwfile=$1 cnf pw st
	shift
	cnf=$(mktemp "${MY_DIR:-${TMPDIR:-/tmp}}/client.cnf.XXXXXX") || return 1
	pw=$(tr -d '\n' <"$pwfile")
	pw=${pw//\\/\\\\}
	pw=${pw//\"/\\\"}
	printf '[client]\npassword="%s"\n' "$pw" >"$cnf"
	pw=
	"$1" --defaults-file="$cnf" "${@:2}"
	st=$?
	rm -f "$cnf"
	return $st
}

# my_client USER PASSWORD_FILE [mariadb arguments...]: the mariadb client
# over TCP with TLS verified against MY_CA, as USER, the password from the
# file (my_with_password); no other option file.
my_client() {
	local user=$1 pwfile=$2
	shift 2
	my_with_password "$pwfile" mariadb --protocol=tcp \
	    -h 127.0.0.1 -P "$MY_PORT" --ssl --ssl-ca="$MY_CA" \
	    --ssl-verify-server-cert --connect-timeout=10 -u "$user" "$@"
}

# my_sql SQL: run SQL as root; prints the rows, tab-separated, one per
# line, no headers.  Returns the client's status.
my_sql() {
	my_root -N -B -e "$1"
}

# my_root [mariadb arguments...]: the client as root over the socket.
my_root() {
	my_with_password "$MY_ROOTPW_FILE" mariadb --socket="$MY_SOCKET" \
	    -u root "$@"
}

# my_login USER PASSWORD_FILE: 0 iff USER logs in over TLS with that
# password and runs a query.  The client's complaint goes to stderr.
my_login() {
	my_client "$1" "$2" -N -B -e 'SELECT 1' >/dev/null
}

# my_hash PASSWORD_FILE: the mysql_native_password hash of the password.
my_hash() {
	python3 - "$1" <<'EOF'
import hashlib, sys
pw = open(sys.argv[1], "rb").read().rstrip(b"\n")
print("*" + hashlib.sha1(hashlib.sha1(pw).digest()).hexdigest().upper())
EOF
}

# my_set_password USER HOST PASSWORD_FILE [--no-password]: set
# 'USER'@'HOST's password (as root) to the one in the file, sending only
# its native hash, on stdin.  --no-password: root has none yet.
my_set_password() {
	local h
	h=$(my_hash "$3") || return 1
	case $1$2 in
	*"'"* | *'\'*)
		echo "my_set_password: bad account name" >&2
		return 1
		;;
	esac
	if [ "${4:-}" = --no-password ]; then
		printf "ALTER USER '%s'@'%s' IDENTIFIED VIA mysql_native_password USING '%s';\n" \
		    "$1" "$2" "$h" | mariadb --no-defaults \
		    --socket="$MY_SOCKET" -u root
	else
		printf "ALTER USER '%s'@'%s' IDENTIFIED VIA mysql_native_password USING '%s';\n" \
		    "$1" "$2" "$h" | my_root
	fi
}
