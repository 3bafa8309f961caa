#!/bin/bash
# Every job file counts: more than 10,000 of them load, and a broken one
# past the 10,000th is named (an earlier loader stopped reading at 10,000
# and left the rest out without a word).  Speaks TAP.
#   tests/integration/many_files.sh BUILDDIR
set -u
ROTAD=$(realpath "$1")/scheduler/rotad
T=$(mktemp -d /tmp/rotad-many.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$(realpath "$0")")/lib/tap.sh"

mkdir -p "$T/conf.d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
worker: {user: nobody}
EOF
# --config-only: the files are the point here, not this host's worker,
# key or store.
# 10,050 valid files, each a resource and a user; then one broken file that
# sorts last.
python3 - "$T/conf.d" <<'PY'
import sys
d = sys.argv[1]
for i in range(10050):
    with open("%s/%05d.yaml" % (d, i), "w") as f:
        f.write("resources:\n  r%d: {kind: database, host: h, protocol: postgresql}\n"
                "users:\n  u%d: {login: u%d, resource: r%d}\n" % (i, i, i, i))
with open("%s/zz-last.yaml" % d, "w") as f:
    f.write("users:\n  broken: {login: [\n")
PY

echo "1..2"
out=$("$ROTAD" -n --config-only -c "$T/rotad.yaml" 2>&1)
st=$?
if [ $st -ne 0 ] && echo "$out" | grep -q "zz-last.yaml:"; then
	ok "a broken job file past the 10,000th is named"
else not_ok "a broken job file past the 10,000th is named" "st=$st $(echo "$out" | tail -5)"; fi

rm "$T/conf.d/zz-last.yaml"
out=$("$ROTAD" -nv --config-only -c "$T/rotad.yaml" 2>&1)
st=$?
users=$(echo "$out" | grep -c '^  u[0-9]*:  # ')
if [ $st -eq 0 ] && [ "$users" = 10050 ]; then
	ok "10,050 job files load, every user of them"
else not_ok "10,050 job files load, every user of them" "st=$st users=$users $(echo "$out" | tail -3)"; fi
exit $((failed > 0))
