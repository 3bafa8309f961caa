#!/bin/bash
# Integration test of SSH key rotation (the ssh provider with rotate:
# private_key), end to end: the real daemon and rotactl, a private OpenSSH
# server (lib/sshd.sh) and real Linux users made for the test (rotadk-*,
# removed at the end).  Checked with the real client (ssh -i KEY) and the
# files themselves.  Speaks TAP.
#
#   tests/integration/ssh_keys.sh BUILDDIR
#
# Covers: RSA, ECDSA (the three curves) and Ed25519 keys, each rotated to
# a new key of its own type; first rotation (appended, the old key left,
# every other line byte for byte, a backup) and second (only rotad's line
# replaced, the previous key refused); Keeper's tag adopted; a user
# without ~/.ssh; a self-change with a passphrase-protected current key;
# private_key_type forcing a type; rotate: [password, private_key]; a host
# key that changed (refused, nothing changed); backups pruned, and only
# backups (a file named like one survives); no private key in any log.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$SRC/tests/integration/lib/sshd.sh"
. "$SRC/tests/integration/lib/rotad.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] ||
    ! command -v sshpass >/dev/null || ! command -v sudo >/dev/null; then
	echo "1..0 # SKIP needs root, openssh-server, sshpass and sudo"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-sshk.XXXXXX)
KEYUSERS="rotadk-ed rotadk-rsa rotadk-p256 rotadk-p384 rotadk-p521 rotadk-keeper rotadk-nossh rotadk-self rotadk-both rotadk-force rotadk-tofu"
USERS="rotadk-admin $KEYUSERS"
SUDOERS=/etc/sudoers.d/rotadk-test
cleanup() {
	rotad_kill
	sshd_stop
	for u in $USERS; do
		userdel -r "$u" >/dev/null 2>&1
	done
	rm -f "$SUDOERS"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/$1"; }
setpw() { { printf '%s:' "$1"; head -n 1 "$T/$2"; } | chpasswd; }
home() { getent passwd "$1" | cut -d: -f6; }
# keylogin USER KEYFILE: 0 when the real client logs in with the key only.
keylogin() {
	ssh -q -p "$SSHD_PORT" -i "$2" -o IdentitiesOnly=yes \
	    -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" \
	    -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
	    -o PreferredAuthentications=publickey -o PasswordAuthentication=no \
	    -o BatchMode=yes -o ConnectTimeout=5 "$1@127.0.0.1" true \
	    </dev/null 2>/dev/null
}
# getkey NAME FILE: the store's current secret NAME into FILE (0600).
getkey() {
	"$ROTACTL" secret get "$1" >"$2" 2>/dev/null && chmod 600 "$2"
}
# keytype FILE: the type of a private key file, as ssh-keygen names it
# (e.g. "256 ED25519", "3072 RSA", "384 ECDSA").
keytype() {
	ssh-keygen -y -f "$1" >"$1.pub" 2>/dev/null &&
	    ssh-keygen -l -f "$1.pub" | awk '{print $1, $NF}' | tr -d '()'
}
ak() { echo "$(home "$1")/.ssh/authorized_keys"; }

echo "1..51"

sshd_start "$T/sshd"
verdict "sshd starts" $? "$(tail -n 5 "$T/sshd/sshd.log" 2>/dev/null)"

# ---- users, their first keys and files ----
newpw admin.pw
newpw both.pw
out=$({ for u in $USERS; do
	useradd -m -s /bin/bash "$u" || exit 1
done
	setpw rotadk-admin admin.pw && setpw rotadk-both both.pw &&
	printf 'rotadk-admin ALL=(ALL,!root) NOPASSWD: /bin/sh\nrotadk-admin ALL=(root) NOPASSWD: /usr/sbin/chpasswd\n' \
	    >"$SUDOERS" && chmod 440 "$SUDOERS" && visudo -cqf "$SUDOERS"
} 2>&1)
verdict "test users, sudoers lines (/bin/sh as non-root users, chpasswd)" $? "$out"

# mkkey NAME TYPE BITS [PASSPHRASE_FILE]: $T/NAME.key (OpenSSH format)
mkkey() {
	local pass=''
	[ -n "${4:-}" ] && pass=$(head -n 1 "$4")
	ssh-keygen -q -t "$2" ${3:+-b "$3"} -N "$pass" -C "$1-orig" \
	    -f "$T/$1.key" >/dev/null
}
# install USER KEYNAME [EXTRA_LINES_FILE]: USER's authorized_keys is the
# extra lines, then the key's public line (untagged: the operator's own).
install() {
	local h d
	h=$(home "$1")
	d=$h/.ssh
	mkdir -p "$d" && chmod 700 "$d" &&
	    { [ -z "${3:-}" ] || cat "$3"; cat "$T/$2.key.pub"; } >"$d/authorized_keys" &&
	    chmod 600 "$d/authorized_keys" && chown -R "$1:$1" "$d"
}
cat >"$T/extra" <<'EOF'
# managed by hand: keep
from="10.0.0.1",command="/bin/echo \"hi there\"",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other@host

ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 broken line kept as is
EOF
newpw self.pass
out=$({ mkkey ed ed25519 "" && mkkey rsa rsa 3072 && mkkey p256 ecdsa 256 &&
	mkkey p384 ecdsa 384 && mkkey p521 ecdsa 521 && mkkey keeper ed25519 "" &&
	mkkey nossh ed25519 "" && mkkey self ed25519 "" "$T/self.pass" &&
	mkkey both ed25519 "" && mkkey force ed25519 "" && mkkey tofu ed25519 "" &&
	install rotadk-tofu tofu &&
	install rotadk-ed ed "$T/extra" && install rotadk-rsa rsa &&
	install rotadk-p256 p256 && install rotadk-p384 p384 &&
	install rotadk-p521 p521 && install rotadk-self self &&
	install rotadk-both both && install rotadk-force force &&
	{ printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3vbo1Q4oQ0hxE6wYQ6UnjFFbBGS4BIf2bmhY5oQw1p keep-me\n'
	  printf 'no-agent-forwarding %s keeper-security-rotadk-keeper\n' \
	      "$(cut -d' ' -f1,2 "$T/keeper.key.pub")"; } >"$T/keeper.lines" &&
	h=$(home rotadk-keeper) && mkdir -p "$h/.ssh" &&
	cp "$T/keeper.lines" "$h/.ssh/authorized_keys" &&
	chmod 700 "$h/.ssh" && chmod 600 "$h/.ssh/authorized_keys" &&
	chown -R rotadk-keeper: "$h/.ssh" && rm -rf "$(home rotadk-nossh)/.ssh"
} 2>&1)
verdict "first keys made by ssh-keygen and installed" $? "$out"
keylogin rotadk-ed "$T/ed.key" && keylogin rotadk-rsa "$T/rsa.key"
verdict "the first keys log in (the real client)" $?

# ---- the daemon ----
mkdir -p "$T/d/conf.d" && chmod 755 "$T/d"
cat >"$T/d/rotad.yaml" <<EOF
store: {path: $T/d/rotad.db, key_file: $T/d/master.key}
control: {socket: $T/d/rotad.sock}
worker: {path: $WORKER, user: nobody}
EOF
users_yaml() {
	local u
	for u in ed rsa p256 p384 p521 keeper nossh; do
		printf '  %s:\n    login: rotadk-%s\n    resource: box\n    rotate: private_key\n' "$u" "$u"
	done
}
cat >"$T/d/conf.d/keys.yaml" <<EOF
resources:
  box:
    kind: machine
    host: 127.0.0.1
    port: $SSHD_PORT
    protocol: ssh
    known_hosts: $SSHD_KNOWN_HOSTS
    admin_user: admin
    authorized_keys_backups: 3
  tofubox:
    kind: machine
    host: 127.0.0.1
    port: $SSHD_PORT
    protocol: ssh
    host_key_policy: tofu
    admin_user: admin
  selfbox:
    kind: machine
    host: 127.0.0.1
    port: $SSHD_PORT
    protocol: ssh
    host_key: "$SSHD_FP"
users:
  admin:
    login: rotadk-admin
    resource: box
    managed: false
    password_file: $T/d/admin.pw
$(users_yaml)
  force:
    login: rotadk-force
    resource: box
    rotate: private_key
    private_key_type: ssh-rsa
  both:
    login: rotadk-both
    resource: box
    rotate: [password, private_key]
    password_file: $T/d/both.pw
  self:
    login: rotadk-self
    resource: selfbox
    rotate: private_key
  tofu:
    login: rotadk-tofu
    resource: tofubox
    rotate: private_key
EOF
cp "$T/admin.pw" "$T/d/admin.pw" && cp "$T/both.pw" "$T/d/both.pw"
export ROTAD_SOCKET=$T/d/rotad.sock
rotad_start "$T/d/rotad.yaml" "$T/d/log"
verdict "rotad checks the job file (rotate: private_key, a list) and starts" \
    $? "$ROTAD_OUT" "$(tail -n 5 "$T/d/log" 2>/dev/null)"

out=$({ for u in ed rsa p256 p384 p521 keeper nossh self both force tofu; do
	"$ROTACTL" secret set "$u/private_key" <"$T/$u.key" || exit 1
done
	"$ROTACTL" secret set self/private_key_passphrase <"$T/self.pass"
} 2>&1)
verdict "the current keys seeded (rotactl secret set USER/private_key)" $? "$out"

# rot NAME: rotactl rotate --wait NAME, committed.
rot() {
	out=$("$ROTACTL" rotate --wait "$1" 2>&1)
	local st=$?
	echo "$out" | grep -q 'state: committed'
	return $((st | $?))
}

# ---- Ed25519, first rotation: appended, the rest byte for byte ----
F=$(ak rotadk-ed)
cp "$F" "$T/ed.before"
rot ed/private_key
verdict "first rotation of an Ed25519 key commits" $? "$out" "$(tail -n 5 "$T/d/log")"
getkey ed/private_key "$T/ed.new1"
[ "$(keytype "$T/ed.new1")" = "256 ED25519" ] && keylogin rotadk-ed "$T/ed.new1"
verdict "the new key is Ed25519 and logs in" $? "$(keytype "$T/ed.new1")"
keylogin rotadk-ed "$T/ed.key"
verdict "the old key still logs in after the first rotation (appended)" $?
n0=$(wc -c <"$T/ed.before")
cmp -s -n "$n0" "$F" "$T/ed.before" &&
    [ "$(sed -n '$p' "$F")" = "$(cut -d' ' -f1,2 "$T/ed.new1.pub") rotad-rotadk-ed" ] &&
    [ "$(wc -l <"$F")" -eq $(($(wc -l <"$T/ed.before") + 1)) ]
verdict "every earlier line byte for byte, then the tagged new line" $? \
    "$(cat "$F")"
ls "$(dirname "$F")"/authorized_keys.rotad-* >/dev/null 2>&1 &&
    cmp -s "$(ls "$(dirname "$F")"/authorized_keys.rotad-* | head -n 1)" "$T/ed.before"
verdict "a backup of the prior file is in .ssh/" $? "$(ls -la "$(dirname "$F")")"
[ "$(stat -c '%U %a' "$F")" = "rotadk-ed 600" ] &&
    [ "$(stat -c '%U %a' "$(dirname "$F")")" = "rotadk-ed 700" ]
verdict "authorized_keys 0600 and .ssh 0700, owned by the user" $? \
    "$(stat -c '%n %U %a' "$F" "$(dirname "$F")")"

# ---- second rotation: only rotad's line replaced ----
cp "$F" "$T/ed.mid"
rot ed/private_key
verdict "second rotation commits" $? "$out"
getkey ed/private_key "$T/ed.new2"
keylogin rotadk-ed "$T/ed.new2"
verdict "the newest key logs in" $?
keylogin rotadk-ed "$T/ed.new1"
verdict "the previous (rotad's) key is refused" $((! $?))
keylogin rotadk-ed "$T/ed.key"
verdict "the operator's own key is untouched and still logs in" $?
head -n -1 "$T/ed.mid" >"$T/ed.mid.head"
head -n -1 "$F" >"$T/ed.new.head"
cmp -s "$T/ed.mid.head" "$T/ed.new.head" &&
    [ "$(wc -l <"$F")" -eq "$(wc -l <"$T/ed.mid")" ] &&
    [ "$(grep -c 'rotad-rotadk-ed$' "$F")" -eq 1 ]
verdict "other lines byte for byte, one tagged line, no line added" $? "$(cat "$F")"
[ "$(ls "$(dirname "$F")"/authorized_keys.rotad-* | wc -l)" -eq 2 ]
verdict "two backups now" $?
hist=$("$ROTACTL" --json secret history ed/private_key 2>&1)
[ "$(echo "$hist" | jget '[v["state"] for v in j["versions"]]')" = \
    "['current', 'previous', 'history']" ]
verdict "the key's versions in the store: current, previous, history" $? "$hist"
runs=$("$ROTACTL" --json runs ed/private_key 2>&1)
[ "$(echo "$runs" | jget 'sum(1 for r in j["runs"] if r["state"] == "committed")')" = 2 ]
verdict "the run history shows two committed runs of ed/private_key" $? "$runs"

# ---- RSA and the three ECDSA curves: the same type again ----
for spec in "rsa:3072 RSA" "p256:256 ECDSA" "p384:384 ECDSA" "p521:521 ECDSA"; do
	u=${spec%%:*} want=${spec#*:}
	rot "$u/private_key"
	st=$?
	getkey "$u/private_key" "$T/$u.new"
	got=$(keytype "$T/$u.new")
	[ $st -eq 0 ] && [ "$got" = "$want" ] && keylogin "rotadk-$u" "$T/$u.new"
	verdict "$u: rotated to a new $want key that logs in" $? "$out" "got: $got"
done
for u in rsa p256 p384 p521; do
	cmp -s "$T/$u.key.pub" <(ssh-keygen -y -f "$T/$u.new")
	verdict "$u: the new key differs from the old" $((! $?))
done

# ---- Keeper's tag adopted ----
rot keeper/private_key
verdict "a key Keeper tagged rotates" $? "$out"
F=$(ak rotadk-keeper)
getkey keeper/private_key "$T/keeper.new"
ssh-keygen -y -f "$T/keeper.new" >"$T/keeper.new.pub"
[ "$(wc -l <"$F")" -eq 2 ] && [ "$(head -n 1 "$F")" = "$(head -n 1 "$T/keeper.lines")" ] &&
    [ "$(sed -n 2p "$F")" = "no-agent-forwarding $(cut -d' ' -f1,2 "$T/keeper.new.pub") rotad-rotadk-keeper" ]
verdict "Keeper's line is adopted: replaced in place, its options kept, one key" \
    $? "$(cat "$F")"
keylogin rotadk-keeper "$T/keeper.new" && ! keylogin rotadk-keeper "$T/keeper.key"
verdict "the new key logs in, Keeper's old one no longer" $?

# ---- a user without ~/.ssh ----
rot nossh/private_key
verdict "a user without .ssh: rotation commits" $? "$out"
F=$(ak rotadk-nossh)
getkey nossh/private_key "$T/nossh.new"
[ "$(stat -c '%U %a' "$F")" = "rotadk-nossh 600" ] &&
    [ "$(stat -c '%U %a' "$(dirname "$F")")" = "rotadk-nossh 700" ] &&
    keylogin rotadk-nossh "$T/nossh.new"
verdict "... .ssh made 0700, authorized_keys 0600, the key logs in" $? \
    "$(stat -c '%n %U %a' "$F" "$(dirname "$F")" 2>&1)"

# ---- self-change with a passphrase-protected current key ----
rot self/private_key
verdict "no admin: the user logs in with its key (passphrase from the store) and rotates it" \
    $? "$out" "$(tail -n 5 "$T/d/log")"
getkey self/private_key "$T/self.new"
keylogin rotadk-self "$T/self.new"
verdict "... the new (unencrypted, in the store) key logs in" $?

# ---- private_key_type forces the type ----
rot force/private_key
verdict "private_key_type: ssh-rsa on an Ed25519 user commits" $? "$out"
getkey force/private_key "$T/force.new"
[ "$(keytype "$T/force.new")" = "4096 RSA" ] && keylogin rotadk-force "$T/force.new"
verdict "... the new key is RSA 4096 and logs in" $? "$(keytype "$T/force.new")"

# ---- rotate: [password, private_key] ----
out=$("$ROTACTL" --json rotate --wait both 2>&1)
st=$?
[ $st -eq 0 ] && [ "$(echo "$out" | tail -n 1 | jget 'sorted(r["user"] + ":" + r["state"] for r in j["runs"])')" = \
    "['both/private_key:committed', 'both:committed']" ]
verdict "rotactl rotate --wait both rotates its password and its key, one run each" \
    $? "$out"
"$ROTACTL" secret get both >"$T/both.new" 2>/dev/null
getkey both/private_key "$T/both.newkey"
sshd_login rotadk-both "$T/both.new" && ! sshd_login rotadk-both "$T/both.pw" &&
    keylogin rotadk-both "$T/both.newkey"
verdict "... the new password and the new key log in, the old password no longer" $?
h1=$("$ROTACTL" --json secret history both | jget 'len(j["versions"])')
h2=$("$ROTACTL" --json secret history both/private_key | jget 'len(j["versions"])')
[ "$h1" = 2 ] && [ "$h2" = 2 ]
verdict "... each its own secret with its own versions" $? "$h1 $h2"

# ---- host_key_policy: tofu ----
rot tofu/private_key
verdict "tofu: the first rotation commits, trusting the key it sees" $? "$out"
grep -q "resource tofubox: host key $SSHD_FP recorded" "$T/d/log"
verdict "... the daemon records that key (the log names its fingerprint)" $? \
    "$(grep tofubox "$T/d/log" | tail -n 3)"

# ---- a host key that changed: refused, nothing changed ----
F=$(ak rotadk-ed)
cp "$F" "$T/ed.before3"
sshd_stop
sshd_hostkey "$T/sshd" other_key
SSHD_PORT=$SSHD_PORT sshd_start "$T/sshd" other_key
# The job file's known_hosts still holds the first key: restore it.
printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/sshd/host_key.pub")" \
    >"$T/sshd/known_hosts"
out=$("$ROTACTL" rotate --wait ed/private_key 2>&1)
echo "$out" | grep -q 'state: failed' && echo "$out" | grep -q 'host key mismatch'
verdict "a changed host key: the run fails (host key mismatch)" $? "$out"
cmp -s "$F" "$T/ed.before3" && getkey ed/private_key "$T/ed.after" &&
    cmp -s "$T/ed.after" "$T/ed.new2"
verdict "... authorized_keys and the store's current key are unchanged" $?
getkey tofu/private_key "$T/tofu.before"
out=$("$ROTACTL" rotate --wait tofu/private_key 2>&1)
echo "$out" | grep -q 'state: failed' &&
    echo "$out" | grep -q 'not the key recorded at the first connection'
verdict "tofu: a key other than the recorded one is refused" $? "$out"
getkey tofu/private_key "$T/tofu.after" && cmp -s "$T/tofu.before" "$T/tofu.after"
verdict "... and the store's key is unchanged" $?
sshd_stop
SSHD_PORT=$SSHD_PORT sshd_start "$T/sshd" host_key
SSHD_KNOWN_HOSTS=$T/sshd/known_hosts

# ---- pruning the backups: only rotad's, the newest kept ----
# Files named like a backup but not one: the admin's login shell is
# bash, which once read the pattern unquoted and unanchored ("$'"), so
# these counted as backups: the second was deleted and the first kept in
# the place of a real backup.
F=$(ak rotadk-ed)
D=$(dirname "$F")
backups() { ls "$D" | grep -xE 'authorized_keys\.rotad-[0-9]{8}T[0-9]{9}Z'; }
for f in authorized_keys.rotad-old-keep-this authorized_keys.rotad-0-keep-this; do
	echo "not a backup" >"$D/$f" && chown rotadk-ed: "$D/$f"
done
first=$(backups | sort | head -n 1)
rot ed/private_key && rot ed/private_key
verdict "two more rotations of ed commit (four backups made, three kept)" $? \
    "$out" "$(tail -n 5 "$T/d/log")"
getkey ed/private_key "$T/ed.new4"
keylogin rotadk-ed "$T/ed.new4"
verdict "... the newest key logs in" $?
[ -f "$D/authorized_keys.rotad-old-keep-this" ] &&
    [ -f "$D/authorized_keys.rotad-0-keep-this" ] &&
    [ "$(backups | wc -l)" -eq 3 ] && ! [ -e "$D/$first" ]
verdict "... files named like a backup survive; the three newest backups are kept" \
    $? "$(ls -la "$D")"

# ---- no private key anywhere it should not be ----
leak=
for f in "$T"/*.new* "$T"/ed.key "$T"/self.key; do
	case $f in *.pub | *.head) continue ;; esac
	# The base64 body's second line: part of the private half only.
	p=$(sed -n 3p "$f")
	[ -n "$p" ] || continue
	if grep -rqaF -- "$p" "$T/d/log" "$T/sshd/sshd.log" "$T"/d/rotad.db*; then
		leak="$leak $(basename "$f")"
	fi
done
[ -z "$leak" ]
verdict "no private key in the daemon's log, sshd's log or the store's plain text" \
    $? "leaked: $leak"
p=$(head -n 1 "$T/self.pass")
! grep -rqaF -- "$p" "$T/d/log" "$T/sshd/sshd.log" "$T"/d/rotad.db*
verdict "nor the passphrase" $?

[ "$n" -eq 51 ] || echo "# planned 51 tests, ran $n"
[ "$failed" -eq 0 ]
