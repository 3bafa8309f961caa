# shellcheck shell=bash
# A private OpenSSH server for integration tests: source this file, then
#
#   T=$(mktemp -d /tmp/rotad-x.XXXXXX)
#   trap 'sshd_stop; rm -rf "$T"' EXIT
#   sshd_start "$T/sshd" || exit 1
#   (job files: known_hosts: $SSHD_KNOWN_HOSTS, or host_key: $SSHD_FP)
#   sshd_login USER PASSWORD_FILE && echo "USER logs in"
#
# The server runs as root (sshd needs it: privilege separation, PAM) on
# 127.0.0.1 and a free port, with a host key of its own (ed25519) and its
# own sshd_config in DIR, PasswordAuthentication and UsePAM on, in the
# foreground (-D -e), logging to DIR/sshd.log; stopped by its PID.
#
# Exports: SSHD_DIR, SSHD_PORT, SSHD_LOG, SSHD_PID, SSHD_KNOWN_HOSTS (a
# world-readable known_hosts file with the host key as "[127.0.0.1]:PORT"),
# SSHD_FP (the key's SHA256 fingerprint, as ssh-keygen -l prints it).
# No function prints a password: sshpass reads it from its file (-f).

SSHD_PID=

sshd_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# sshd_hostkey DIR NAME: a new ed25519 host key DIR/NAME (and NAME.pub).
sshd_hostkey() {
	rm -f "$1/$2" "$1/$2.pub"
	ssh-keygen -q -t ed25519 -N '' -C rotad-test -f "$1/$2" >/dev/null
}

# sshd_start DIR [HOSTKEY]: start a server with its files in DIR (created);
# HOSTKEY (a file name in DIR) defaults to a new key DIR/host_key;
# SSHD_EXTRA, if set, is appended to its sshd_config.
# 0 once it accepts connections, else 1 with the reason on stderr.
sshd_start() {
	local dir=$1 key=${2:-host_key} i
	SSHD_DIR=$dir
	mkdir -p /run/sshd "$dir" || return 1
	chmod 755 "$dir"
	[ -f "$dir/$key" ] || sshd_hostkey "$dir" "$key" || return 1
	SSHD_PORT=${SSHD_PORT:-$(sshd_free_port)}
	SSHD_LOG=$dir/sshd.log
	cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $dir/$key
PidFile $dir/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM yes
PermitRootLogin no
AuthorizedKeysFile .ssh/authorized_keys
LogLevel VERBOSE
${SSHD_EXTRA:-}
EOF
	/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>>"$SSHD_LOG" &
	SSHD_PID=$!
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
	    "$(cut -d' ' -f1,2 "$dir/$key.pub")" >"$dir/known_hosts"
	chmod 644 "$dir/known_hosts"
	SSHD_KNOWN_HOSTS=$dir/known_hosts
	SSHD_FP=$(ssh-keygen -l -E sha256 -f "$dir/$key.pub" | cut -d' ' -f2)
	export SSHD_DIR SSHD_PORT SSHD_LOG SSHD_PID SSHD_KNOWN_HOSTS SSHD_FP
	for i in $(seq 1 50); do
		if python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
		    "$SSHD_PORT" 2>/dev/null; then
			return 0
		fi
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "sshd_start: sshd did not start: $(tail -n 5 "$SSHD_LOG")" >&2
	return 1
}

# sshd_stop: stop the server started last, by its PID.
sshd_stop() {
	if [ -n "$SSHD_PID" ]; then
		kill "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		SSHD_PID=
	fi
}

# sshd_login USER PASSWORD_FILE: 0 when the real client logs in as USER
# with the password in the file (and runs `true`), else non-zero.
sshd_login() {
	sshpass -f "$2" ssh -q -p "$SSHD_PORT" \
	    -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" \
	    -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
	    -o PreferredAuthentications=password,keyboard-interactive \
	    -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 \
	    -o ConnectTimeout=5 "$1@127.0.0.1" true </dev/null 2>/dev/null
}
