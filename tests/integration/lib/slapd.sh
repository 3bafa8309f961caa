# shellcheck shell=bash
# A private OpenLDAP slapd for integration tests: source this file, then
#
#   T=$(mktemp -d /tmp/rotad-x.XXXXXX)
#   trap 'slapd_stop; rm -rf "$T"' EXIT
#   slapd_start "$T/ldap" || exit 1
#   slapd_add_person target "$T/target.pw"     # uid=target,ou=people,...
#   slapd_bind "$SLAPD_URI_STARTTLS" "uid=target,$SLAPD_PEOPLE" "$T/target.pw"
#
# The server runs as root in the foreground (`-d 256`, its log in
# DIR/slapd.log), one database (mdb, suffix dc=example,dc=com) under DIR,
# on 127.0.0.1 with two free ports: ldap:// (StartTLS offered) and
# ldaps://.  Its certificate, for IP 127.0.0.1, is signed by a CA made
# here with the openssl CLI (DIR/tls/ca.pem, world-readable: the worker
# reads it as nobody); another CA (DIR/tls/other.pem) signed nothing.
#
# Entries: the rootdn cn=root (slapd_ldapmodify uses it), an admin
# cn=rotad-admin that may write userPassword, and slapd_add_person's
# users, each of whom may change its own.  The ppolicy overlay's default
# policy wants passwords of 12 characters or more (pwdCheckQuality 2), so
# a short one is refused with constraintViolation (19).
#
# Passwords live in files (the password, optionally a newline) and reach
# slappasswd and ldap-utils only through files (-T, -y), never argv; no
# function prints one.
#
# Exports: SLAPD_DIR, SLAPD_LOG, SLAPD_PID, SLAPD_SUFFIX, SLAPD_PEOPLE
# (ou=people,SUFFIX), SLAPD_ADMIN_DN, SLAPD_ADMIN_PW_FILE, SLAPD_ROOT_DN,
# SLAPD_ROOT_PW_FILE, SLAPD_HOST, SLAPD_PORT (ldap://), SLAPD_TLS_PORT
# (ldaps://), SLAPD_URI_STARTTLS, SLAPD_URI_LDAPS, SLAPD_CA_FILE,
# SLAPD_OTHER_CA_FILE, SLAPD_PASSMOD_OID (Password Modify's OID).

SLAPD_SUFFIX=dc=example,dc=com
SLAPD_PEOPLE=ou=people,$SLAPD_SUFFIX
SLAPD_ADMIN_DN=cn=rotad-admin,$SLAPD_SUFFIX
SLAPD_ROOT_DN=cn=root,$SLAPD_SUFFIX
SLAPD_HOST=127.0.0.1
SLAPD_PASSMOD_OID=1.3.6.1.4.1.4203.1.11.1
export SLAPD_SUFFIX SLAPD_PEOPLE SLAPD_ADMIN_DN SLAPD_ROOT_DN SLAPD_HOST \
    SLAPD_PASSMOD_OID
SLAPD_PID=

# A TCP port that was free on 127.0.0.1 a moment ago.
slapd_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# slapd_make_tls DIR: ca.pem/ca.key, server.pem/server.key (IP
# 127.0.0.1, signed by ca), and other.pem (a CA that signed nothing), in
# a new directory DIR, mode 755; keys 0600.
slapd_make_tls() {
	local out
	mkdir -m 755 "$1" || return 1
	if ! out=$(cd "$1" && {
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout ca.key -out ca.pem -days 2 \
		    -subj "/CN=rotad test LDAP CA" &&
		    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -keyout server.key -out server.csr \
			-subj /CN=127.0.0.1 &&
		    printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
		    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out server.pem -days 2 \
			-extfile san.ext &&
		    openssl req -x509 -newkey ec \
			-pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout other.key -out other.pem -days 2 \
			-subj "/CN=rotad test other CA" &&
		    chmod 600 ca.key server.key other.key &&
		    chmod 644 ca.pem other.pem server.pem
	} 2>&1); then
		echo "slapd_make_tls: $out" >&2
		return 1
	fi
}

# slapd_hash PWFILE: the {SSHA} hash of the password in PWFILE.  The
# password's copy is made in the server's directory, inside the caller's
# private one, so that a call killed midway leaves nothing in /tmp.
slapd_hash() {
	local tmp
	tmp=$(mktemp "${SLAPD_DIR:-${TMPDIR:-/tmp}}/pw.XXXXXX") || return 1
	# -T takes the whole file: drop the newline.
	tr -d '\n' <"$1" >"$tmp" && /usr/sbin/slappasswd -n -T "$tmp"
	local st=$?
	rm -f "$tmp"
	return $st
}

# slapd_start DIR [no_passmod]: a new server with its data,
# configuration and TLS under DIR.  0 once it answers on both ports, else
# 1 with the reason on stderr.
#
# no_passmod: a server without the Password Modify extended operation
# (RFC 3062), as far as a client can tell.  slapd builds it in and cannot
# unload it, so it is taken away twice: `restrict extended=OID` makes slapd
# refuse it (unwillingToPerform), and an ACL on the rootDSE hides that one
# value of supportedExtension, so the server no longer lists it.  A client
# must then write userPassword, which ppolicy_hash_cleartext (set on every
# server here) hashes before storing it.
slapd_start() {
	local dir=$1 hash roothash i global=
	mkdir -p "$dir" || return 1
	dir=$(realpath "$dir")
	SLAPD_DIR=$dir
	SLAPD_LOG=$dir/slapd.log
	SLAPD_CA_FILE=$dir/tls/ca.pem
	SLAPD_OTHER_CA_FILE=$dir/tls/other.pem
	SLAPD_ADMIN_PW_FILE=$dir/admin.pw
	SLAPD_ROOT_PW_FILE=$dir/root.pw
	export SLAPD_DIR SLAPD_LOG SLAPD_CA_FILE SLAPD_OTHER_CA_FILE \
	    SLAPD_ADMIN_PW_FILE SLAPD_ROOT_PW_FILE
	chmod 711 "$dir" || return 1
	slapd_make_tls "$dir/tls" || return 1
	mkdir -m 700 "$dir/data" || return 1
	(umask 077 && for f in "$SLAPD_ADMIN_PW_FILE" "$SLAPD_ROOT_PW_FILE"; do
		python3 -c 'import secrets; print(secrets.token_urlsafe(18))' \
		    >"$f" || exit 1
	done) || return 1
	roothash=$(slapd_hash "$SLAPD_ROOT_PW_FILE") || return 1
	hash=$(slapd_hash "$SLAPD_ADMIN_PW_FILE") || return 1
	if [ "${2:-}" = no_passmod ]; then
		global="restrict extended=$SLAPD_PASSMOD_OID
access to dn.base=\"\" attrs=supportedExtension val/objectIdentifierMatch=\"$SLAPD_PASSMOD_OID\"
	by * none
access to dn.base=\"\"
	by * read"
	fi

	# The admin writes userPassword (the rootdn would bypass ppolicy);
	# each user may change its own; binds may compare it.
	cat >"$dir/slapd.conf" <<EOF || return 1
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
$global
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
TLSCACertificateFile $dir/tls/ca.pem
TLSCertificateFile $dir/tls/server.pem
TLSCertificateKeyFile $dir/tls/server.key
database mdb
maxsize 67108864
suffix "$SLAPD_SUFFIX"
rootdn "$SLAPD_ROOT_DN"
rootpw $roothash
directory $dir/data
overlay ppolicy
ppolicy_default "cn=default,ou=policies,$SLAPD_SUFFIX"
ppolicy_hash_cleartext
access to attrs=userPassword
	by dn.exact="$SLAPD_ADMIN_DN" write
	by self write
	by anonymous auth
	by * none
access to *
	by * read
EOF
	cat >"$dir/base.ldif" <<EOF || return 1
dn: $SLAPD_SUFFIX
objectClass: dcObject
objectClass: organization
o: rotad test
dc: example

dn: $SLAPD_PEOPLE
objectClass: organizationalUnit
ou: people

dn: ou=policies,$SLAPD_SUFFIX
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$SLAPD_SUFFIX
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMinLength: 12
pwdCheckQuality: 2

dn: $SLAPD_ADMIN_DN
objectClass: person
cn: rotad-admin
sn: admin
userPassword: $hash
EOF
	if ! /usr/sbin/slapadd -f "$dir/slapd.conf" -l "$dir/base.ldif" \
	    >"$dir/slapadd.log" 2>&1; then
		echo "slapd_start: slapadd failed:" >&2
		tail -n 20 "$dir/slapadd.log" >&2
		return 1
	fi
	for i in 1 2 3; do
		SLAPD_PORT=$(slapd_free_port) || return 1
		SLAPD_TLS_PORT=$(slapd_free_port) || return 1
		SLAPD_URI_STARTTLS=ldap://$SLAPD_HOST:$SLAPD_PORT
		SLAPD_URI_LDAPS=ldaps://$SLAPD_HOST:$SLAPD_TLS_PORT
		export SLAPD_PORT SLAPD_TLS_PORT SLAPD_URI_STARTTLS \
		    SLAPD_URI_LDAPS
		/usr/sbin/slapd -d 256 -f "$dir/slapd.conf" \
		    -h "$SLAPD_URI_STARTTLS/ $SLAPD_URI_LDAPS/" \
		    >"$SLAPD_LOG" 2>&1 </dev/null &
		SLAPD_PID=$!
		for _ in $(seq 50); do
			if slapd_ping; then
				return 0
			fi
			kill -0 "$SLAPD_PID" 2>/dev/null || break
			sleep 0.1
		done
		slapd_stop
		grep -q 'Address already in use' "$SLAPD_LOG" || break
	done
	echo "slapd_start: slapd did not start:" >&2
	tail -n 20 "$SLAPD_LOG" >&2
	return 1
}

# slapd_ping: 0 when the rootDSE answers on both ports, over TLS.
slapd_ping() {
	LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand \
	    ldapsearch -x -ZZ -H "$SLAPD_URI_STARTTLS" -b '' -s base \
	    -o nettimeout=2 1.1 >/dev/null 2>&1 &&
	    LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand \
		ldapsearch -x -H "$SLAPD_URI_LDAPS" -b '' \
		-s base -o nettimeout=2 1.1 >/dev/null 2>&1
}

# slapd_stop: stop the server by its PID (SIGTERM, then SIGKILL after
# 5 s).  Idempotent; safe in an EXIT trap.
slapd_stop() {
	local pid=$SLAPD_PID _
	[ -n "$pid" ] || return 0
	SLAPD_PID=
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# slapd_ldapmodify: ldapmodify as the rootdn over StartTLS, the LDIF on
# stdin.
slapd_ldapmodify() {
	LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand \
	    ldapmodify -x -ZZ -H "$SLAPD_URI_STARTTLS" -D "$SLAPD_ROOT_DN" \
	    -y <(tr -d '\n' <"$SLAPD_ROOT_PW_FILE") -o nettimeout=5 2>&1 ||
	    return 1
}

# slapd_add_person UID PWFILE: uid=UID,ou=people,SUFFIX with the
# password in PWFILE (hashed here).
slapd_add_person() {
	local hash
	hash=$(slapd_hash "$2") || return 1
	slapd_ldapmodify >/dev/null <<EOF
dn: uid=$1,$SLAPD_PEOPLE
changetype: add
objectClass: inetOrgPerson
uid: $1
cn: $1
sn: $1
userPassword: $hash
EOF
}

# slapd_bind URI DN PWFILE: 0 iff DN binds with the password in PWFILE
# (ldapwhoami, verified TLS: -ZZ on ldap://).  Prints ldapwhoami's
# complaint on stderr; its status is 49 for a refused password.
slapd_bind() {
	local uri=$1 dn=$2 pwfile=$3 z=
	case $uri in ldap://*) z=-ZZ ;; esac
	LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand \
	    ldapwhoami -x $z -H "$uri" -D "$dn" \
	    -y <(tr -d '\n' <"$pwfile") -o nettimeout=5 >/dev/null
}
