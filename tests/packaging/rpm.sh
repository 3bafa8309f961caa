#!/bin/bash
# tests/packaging/rpm.sh [RPM]: the RPM, as built and as installed.  TAP.
#
# Builds it (scripts/rpm) unless RPM names one, then checks what rpm says
# of it: the exact file list, modes, the conffile, each scriptlet's
# syntax and what it does (rpm -qlp, rpm -qp --scripts).  Then installs it
# into this Debian system with Debian's rpm (rpm -i --nodeps: rpm's own
# database knows none of the libraries, which dpkg installed), so that its
# scriptlets run for real: the same layout checks as the .deb's, a
# reinstall over an edited rotad.yaml, and an erase, which keeps the
# state (RPM has no purge; this test then removes it, and the users it
# made).  Needs root; a second package test waits for the first.
set -u
given=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.."
. tests/integration/lib/tap.sh
. tests/packaging/lib.sh

pkg_preflight rpm rpmbuild runuser

if dpkg-query -W -f='${db:Status-Status}' rotad 2>/dev/null |
    grep -qv not-installed || rpm -q rotad >/dev/null 2>&1; then
	not_ok "rotad is not installed yet" \
	    "a rotad package is installed (dpkg -l rotad, rpm -q rotad):" \
	    "this test installs the RPM over nothing; remove it first"
	echo "1..$n"
	exit 1
fi
pkg_users_remember

T=$(mktemp -d /tmp/rotad-rpm-test.XXXXXX)
cleanup() {
	if rpm -q rotad >/dev/null 2>&1; then
		rpm -e --nodeps rotad >/dev/null 2>&1
	fi
	rm -rf /etc/rotad /var/lib/rotad /run/rotad
	pkg_users_restore
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pkg_build "make rpm builds the package (rpmbuild --nodeps -bb)" scripts/rpm \
    'rotad-*.rpm' "$given"
RPM=$PKG

# ---- what rpm says of it ---------------------------------------------------

# The payload, less rpm's own (build ids) and the documentation, which
# has a line of its own below.
rpm -qlp "$RPM" 2>/dev/null | grep -v -e '^/usr/lib/\.build-id' \
    -e '^/usr/share/doc/' -e '^/usr/share/licenses/' >"$T/files"
cat >"$T/expected" <<'EOF'
/etc/rotad
/etc/rotad/conf.d
/etc/rotad/rotad.yaml
/usr/bin/rotactl
/usr/lib/systemd/system/rotad-siem.service
/usr/lib/systemd/system/rotad-siem.socket
/usr/lib/systemd/system/rotad.service
/usr/lib/sysusers.d/rotad.conf
/usr/lib/tmpfiles.d/rotad.conf
/usr/libexec/rotad-deliver
/usr/libexec/rotad-worker
/usr/sbin/rotad
/usr/sbin/rotad-siem
/usr/share/bash-completion/completions/rotactl
/usr/share/bash-completion/completions/rotad
/usr/share/man/man1/rotactl.1
/usr/share/man/man5/rotad.yaml.5
/usr/share/man/man8/rotad-deliver.8
/usr/share/man/man8/rotad-siem.8
/usr/share/man/man8/rotad-worker.8
/usr/share/man/man8/rotad.8
EOF
# Man pages may be compressed where rpm's brp-compress runs.
sed -i 's/\.gz$//' "$T/files"
diff -u "$T/expected" "$T/files" >"$T/files.diff"
verdict "rpm -qlp: the programs, the units, sysusers.d, tmpfiles.d, man pages, completions, /etc/rotad" $? \
    "$(cat "$T/files.diff")"
rpm -qlp "$RPM" 2>/dev/null | grep -q '/examples/conf.d/00-configuration.yaml$' &&
    rpm -qlp "$RPM" 2>/dev/null | grep -q '/doc/.*/configuration.md$'
verdict "the conf.d examples and the documentation are in the doc directory" $? \
    "$(rpm -qlp "$RPM" 2>/dev/null | grep /doc/)"

rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' \
    "$RPM" 2>/dev/null >"$T/modes"
grep -qx 'drwxr-x--- root:rotad  /etc/rotad' "$T/modes" &&
    grep -qx 'drwxr-xr-x root:root  /etc/rotad/conf.d' "$T/modes" &&
    grep -qx -- '-rw-r--r-- root:root cn /etc/rotad/rotad.yaml' "$T/modes" &&
    grep -qx -- '-rwxr-xr-x root:root  /usr/libexec/rotad-worker' "$T/modes"
verdict "/etc/rotad root:rotad 0750; rotad.yaml %config(noreplace)" $? \
    "$(grep -e /etc/ -e libexec "$T/modes")"

rpm -qp --scripts "$RPM" >"$T/scripts" 2>/dev/null
for s in PREIN POSTIN PREUN POSTUN; do
	rpm -qp --qf "%{$s}\n" "$RPM" >"$T/$s" 2>/dev/null
done
st=0
for s in PREIN POSTIN PREUN POSTUN; do
	sh -n "$T/$s" 2>>"$T/syntax" || st=1
done
verdict "each scriptlet passes sh -n" $st "$(cat "$T/syntax" 2>/dev/null)"

grep -q 'useradd -r -g rotad -d /var/lib/rotad -s /sbin/nologin' "$T/PREIN" &&
    grep -q 'useradd -r -g rotad-worker -d /nonexistent -M -s /sbin/nologin' "$T/PREIN" &&
    grep -q 'useradd -r -g rotad-siem -d /nonexistent -M -s /sbin/nologin' "$T/PREIN" &&
    grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/rotad.conf' "$T/POSTIN" &&
    grep -q 'if \[ "$1" -eq 1 \] && \[ ! -e /var/lib/rotad/rotad.db \]' "$T/POSTIN" &&
    grep -q '/usr/sbin/rotad --init' "$T/POSTIN" &&
    grep -q 'chown rotad:rotad /var/lib/rotad/rotad.db' "$T/POSTIN" &&
    grep -q 'if \[ "$1" -eq 0 \]' "$T/PREUN" &&
    grep -q 'systemctl --no-reload disable --now rotad-siem.socket rotad-siem.service' "$T/PREUN" &&
    grep -q 'systemctl try-restart rotad.service rotad-siem.service' "$T/POSTUN" &&
    grep -q 'preset rotad.service' "$T/POSTIN" &&
    ! grep -q 'preset.*rotad-siem' "$T/POSTIN" &&
    ! grep -q 'rm -' "$T/scripts"
verdict "rpm -qp --scripts: users before the files, key and store on first install only, rotad.service preset and rotad-siem.service not, both stopped on erase and restarted on upgrade, nothing removed" $? \
    "$(cat "$T/scripts")"

# ---- installed -------------------------------------------------------------

rpm -i --nodeps "$RPM" >"$T/install.log" 2>&1 && rpm -q rotad >/dev/null 2>&1
verdict "rpm -i --nodeps installs it, its scriptlets succeeding" $? \
    "$(cat "$T/install.log")"
grep -E 'created master key|store .* ready' "$T/install.log" >/dev/null
verdict "the first install made the master key and the store (rotad --init)" $? \
    "$(cat "$T/install.log")"

pkg_check_layout

echo "# edited by rpm.sh" >>/etc/rotad/rotad.yaml
keysum=$(sha256sum <"$KEY")
storesum=$(sha256sum <"$STORE")
rpm -U --replacepkgs --nodeps "$RPM" >"$T/reinstall.log" 2>&1 &&
    tail -n 1 /etc/rotad/rotad.yaml | grep -q '^# edited by rpm.sh$' &&
    [ "$(sha256sum <"$KEY")" = "$keysum" ] &&
    [ "$(sha256sum <"$STORE")" = "$storesum" ] &&
    [ "$(perms /etc/rotad)" = "root:rotad 750" ]
verdict "reinstalled over an edited rotad.yaml: the edit, the key and the store are kept" $? \
    "$(cat "$T/reinstall.log")" "$(tail -n 3 /etc/rotad/rotad.yaml)"

rpm -e --nodeps rotad >"$T/erase.log" 2>&1 && ! rpm -q rotad >/dev/null 2>&1 &&
    [ ! -e /usr/sbin/rotad ] && [ -f "$KEY" ] && [ -f "$STORE" ] &&
    getent passwd rotad rotad-worker >/dev/null
verdict "rpm -e removes the programs and keeps the key, the store and the users (no purge in RPM)" $? \
    "$(cat "$T/erase.log")" "$(ls -la /etc/rotad /var/lib/rotad 2>&1)"

echo "1..$n"
[ "$failed" -eq 0 ]
