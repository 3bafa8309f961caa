#!/bin/bash
# OpenSSH and common/sshkey.c agree on keys, both ways.  Keys of every
# type that sshkey-gen (tests/unit/sshkey_gen.c) makes are read by
# OpenSSH's ssh-keygen: -y derives the same public line sshkey wrote,
# -l prints the same fingerprint, and -Y sign makes a signature that
# -Y verify accepts, so the private half is right too.  Keys that ssh-keygen
# makes, in OpenSSH, PEM and PKCS#8 formats and with a passphrase, read
# in sshkey-gen -i as ssh-keygen's .pub and fingerprint say.  RSA keys,
# ours and OpenSSH's, in OpenSSH format and PEM, sign as rsa-sha2-256 and
# -512 (sshkey-gen -s) what openssl dgst -verify accepts with the public key
# ssh-keygen -e exports, byte for byte what openssl dgst -sign makes of the
# same key.  Nothing here
# runs a daemon or touches anything outside its temporary directory.
# Speaks TAP.
#
#   tests/integration/sshkey_interop.sh BUILDDIR
set -u
B=$(realpath "$1")
GEN=$B/tests/unit/sshkey-gen
. "$(dirname "$(realpath "$0")")/lib/tap.sh"

if ! command -v ssh-keygen >/dev/null || [ ! -x "$GEN" ]; then
	echo "1..0 # SKIP needs ssh-keygen (openssh-client) and a build with -Dtests=true"
	exit 0
fi
T=$(mktemp -d /tmp/rotad-sshkey.XXXXXX)
trap 'rm -rf "$T"' EXIT
umask 022

TYPES="ssh-rsa ecdsa-sha2-nistp256 ecdsa-sha2-nistp384 ecdsa-sha2-nistp521 ssh-ed25519"
# ssh-keygen's -t and -b for each of ours.
keygen_args() {
	case $1 in
	ssh-rsa) echo "-t rsa -b 2048" ;;
	ecdsa-sha2-nistp256) echo "-t ecdsa -b 256" ;;
	ecdsa-sha2-nistp384) echo "-t ecdsa -b 384" ;;
	ecdsa-sha2-nistp521) echo "-t ecdsa -b 521" ;;
	ssh-ed25519) echo "-t ed25519" ;;
	esac
}

echo "1..$((5 * 4 + 5 * 2 + 4 + 3 + 1 + 3 * 2 + 1 + 2 + 2))"
echo "a file to sign" >"$T/data"

# Ours, read by OpenSSH.
for t in $TYPES; do
	k=$T/ours-$t
	bits=
	[ "$t" = ssh-rsa ] && bits=2048
	# shellcheck disable=SC2086
	if ! fp=$("$GEN" "$t" "$k" $bits 2>&1); then
		not_ok "sshkey-gen makes a $t key" "$fp"
		for c in "-y reads it" "-l fingerprints it" "-Y signs with it"; do
			not_ok "ssh-keygen $c ($t: no key)"
		done
		continue
	fi
	mode=$(stat -c %a "$k")
	if [ "$mode" = 600 ] && head -1 "$k" | grep -qx -- '-----BEGIN OPENSSH PRIVATE KEY-----'; then
		ok "sshkey-gen makes a $t key, mode 0600, OpenSSH format"
	else
		not_ok "sshkey-gen makes a $t key, mode 0600, OpenSSH format" "mode $mode"
	fi

	out=$(ssh-keygen -y -f "$k" 2>&1)
	want=$(cat "$k.pub")
	[ -n "$want" ] && [ "$out" = "$want" ]
	verdict "ssh-keygen -y reads our $t key as the public line we wrote" $? \
	    "ssh-keygen -y: $out" "ours:          $want"

	out=$(ssh-keygen -l -E sha256 -f "$k.pub" 2>&1)
	got=$(printf '%s\n' "$out" | awk '{ print $2 }')
	[ -n "$fp" ] && [ "$got" = "$fp" ]
	verdict "ssh-keygen -l prints our $t fingerprint" $? \
	    "ssh-keygen -l: $out" "ours:          $fp"

	rm -f "$T/data.sig"
	echo "signer $(cut -d' ' -f1,2 "$k.pub")" >"$T/allowed"
	out=$(ssh-keygen -Y sign -f "$k" -n rotad-test "$T/data" 2>&1 &&
	    ssh-keygen -Y verify -f "$T/allowed" -I signer -n rotad-test \
		-s "$T/data.sig" <"$T/data" 2>&1)
	verdict "OpenSSH signs with our $t key and verifies the signature" $? "$out"
done

# OpenSSH's, read by us.
for t in $TYPES; do
	k=$T/theirs-$t
	# shellcheck disable=SC2046
	ssh-keygen -q $(keygen_args "$t") -N '' -C theirs -f "$k" >/dev/null 2>&1
	out=$("$GEN" -i "$k" 2>&1)
	line=$(printf '%s\n' "$out" | sed -n 1p)
	fp=$(printf '%s\n' "$out" | sed -n 2p)
	want=$(cut -d' ' -f1,2 "$k.pub")
	[ -n "$want" ] && [ "$line" = "$want" ]
	verdict "we read ssh-keygen's $t key as its .pub" $? \
	    "ours:       $out" "ssh-keygen: $want"
	wfp=$(ssh-keygen -l -E sha256 -f "$k.pub" | awk '{ print $2 }')
	[ -n "$wfp" ] && [ "$fp" = "$wfp" ]
	verdict "our fingerprint of ssh-keygen's $t key is its own" $? \
	    "ours: $fp" "ssh-keygen: $wfp"

	# The same key as PEM (this OpenSSH writes no PEM Ed25519 key; the
	# unit tests read one openssl made).
	[ "$t" = ssh-ed25519 ] && continue
	cp "$k" "$k.pem"
	ssh-keygen -q -p -m PEM -N '' -P '' -f "$k.pem" >/dev/null 2>&1
	out=$("$GEN" -i "$k.pem" 2>&1)
	line=$(printf '%s\n' "$out" | sed -n 1p)
	head -1 "$k.pem" | grep -qx -- '-----BEGIN \(RSA\|EC\) PRIVATE KEY-----' &&
	    [ "$line" = "$want" ]
	verdict "we read ssh-keygen's $t key rewritten as PEM" $? \
	    "$(head -1 "$k.pem")" "ours:       $out" "ssh-keygen: $want"
done

# With a passphrase: OpenSSH format needs none to be described; PKCS#8 and
# PEM need the right one.
printf '%s' 'interop pass phrase' >"$T/pass"
printf '%s' 'not the pass phrase' >"$T/wrong"
k=$T/enc
ssh-keygen -q -t ecdsa -b 384 -N 'interop pass phrase' -C enc -f "$k" >/dev/null 2>&1
want=$(cut -d' ' -f1,2 "$k.pub")
out=$("$GEN" -i "$k" 2>&1)
[ "$(printf '%s\n' "$out" | sed -n 1p)" = "$want" ]
verdict "an encrypted OpenSSH key is read without its passphrase" $? "$out"
cp "$k" "$k.p8"
ssh-keygen -q -p -m PKCS8 -P 'interop pass phrase' -N 'interop pass phrase' \
    -f "$k.p8" >/dev/null 2>&1
out=$("$GEN" -i "$k.p8" "$T/pass" 2>&1)
grep -q 'ENCRYPTED PRIVATE KEY' "$k.p8" &&
    [ "$(printf '%s\n' "$out" | sed -n 1p)" = "$want" ]
verdict "an encrypted PKCS#8 key is read with its passphrase" $? "$out"
out=$("$GEN" -i "$k.p8" "$T/wrong" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'Key was rejected'
verdict "an encrypted PKCS#8 key is refused with a wrong passphrase" $? "$out"

# The default RSA size.
"$GEN" ssh-rsa "$T/default" >/dev/null 2>&1
out=$(ssh-keygen -l -f "$T/default" 2>&1)
[ "$(printf '%s\n' "$out" | awk '{ print $1, $NF }')" = "4096 (RSA)" ]
verdict "sshkey-gen's default RSA key is 4096 bits to ssh-keygen" $? "$out"

# RSA signatures (sshkey_sign_rsa), checked by OpenSSL against the public
# key as OpenSSH exports it.
for k in "$T/ours-ssh-rsa" "$T/theirs-ssh-rsa" "$T/theirs-ssh-rsa.pem"; do
	pub=${k%.pem}.pub
	ssh-keygen -e -m PKCS8 -f "$pub" >"$T/pub.pem" 2>&1
	for h in 256 512; do
		rm -f "$T/sig"
		out=$("$GEN" -s $h "$k" "$T/data" "$T/sig" 2>&1 &&
		    openssl dgst -sha$h -verify "$T/pub.pem" -signature "$T/sig" \
			"$T/data" 2>&1)
		st=$? # before the name's $(...), which sets $? again
		verdict "rsa-sha2-$h signature with $(basename "$k") verifies" $st "$out"
	done
done
k=$T/theirs-ssh-rsa
out=
for h in 256 512; do
	"$GEN" -s $h "$k" "$T/data" "$T/sig.ours" >/dev/null 2>&1 &&
	    openssl dgst -sha$h -sign "$k.pem" -out "$T/sig.openssl" "$T/data" 2>&1 &&
	    cmp "$T/sig.ours" "$T/sig.openssl" >/dev/null 2>&1 || out="$out sha$h"
done
[ -z "$out" ]
verdict "our signatures with an OpenSSH-format key are openssl dgst -sign's with its PEM" $? \
    "differ:$out"

k=$T/rsa-enc-pem
ssh-keygen -q -t rsa -b 2048 -m PEM -N 'interop pass phrase' -C enc -f "$k" >/dev/null 2>&1
ssh-keygen -e -m PKCS8 -f "$k.pub" >"$T/pub.pem" 2>&1
rm -f "$T/sig"
out=$("$GEN" -s 512 "$k" "$T/data" "$T/sig" "$T/pass" 2>&1 &&
    openssl dgst -sha512 -verify "$T/pub.pem" -signature "$T/sig" "$T/data" 2>&1)
grep -q 'Proc-Type: 4,ENCRYPTED' "$k"
verdict "an encrypted PEM RSA key signs with its passphrase" $? "$out"
out=$("$GEN" -s 256 "$k" "$T/data" "$T/sig" "$T/wrong" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'Key was rejected'
verdict "an encrypted PEM RSA key does not sign with a wrong passphrase" $? "$out"

k=$T/rsa-enc
ssh-keygen -q -t rsa -b 2048 -N 'interop pass phrase' -C enc -f "$k" >/dev/null 2>&1
out=$("$GEN" -s 256 "$k" "$T/data" "$T/sig" "$T/pass" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'not supported'
verdict "an encrypted OpenSSH RSA key is not supported for signing" $? "$out"
out=$("$GEN" -s 256 "$T/ours-ecdsa-sha2-nistp256" "$T/data" "$T/sig" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -q 'not supported'
verdict "an ECDSA key is not supported for RSA signing" $? "$out"

[ "$failed" -eq 0 ]
