# shellcheck shell=bash
# TAP for the integration tests: source it, print the plan, then call
# ok / not_ok / verdict per case, and end with `[ "$failed" -eq 0 ]`.
#
#   ok NAME                         one passing case
#   not_ok NAME [DIAGNOSTIC...]     one failing case; each diagnostic is
#                                   printed as "# " lines
#   verdict NAME STATUS [DIAG...]   ok when STATUS is 0, else not_ok
#   jget EXPR                       a Python expression on the JSON
#                                   document on stdin, bound to j
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
verdict() {
	local name=$1 st=$2
	shift 2
	if [ "$st" -eq 0 ]; then ok "$name"; else not_ok "$name" "$@"; fi
}
jget() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$@"; }
