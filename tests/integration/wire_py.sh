#!/bin/bash
# The Python wire codec (tests/lib/wire.py), which the worker tests drive
# rotad-worker with, checked against itself and against the C codec: its
# selftest decodes a response the C encoder wrote (test_wire.c asserts
# the C encoder still writes exactly those bytes, and decodes a request
# wire.py wrote).  Here, the two copies of that response must agree.
# Then the worker's reading of its input through it: one request for a
# provider without batches, up to WIRE_BATCH_MAX for one with them
# (CATALOG_CAP_BATCH), without any target (requests it refuses).
# Speaks TAP.   tests/integration/wire_py.sh BUILDDIR
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
WORKER=$B/rotad-worker
out=$(python3 tests/lib/wire.py selftest 2>&1)
rc=$?
failed=0
n=$(printf '%s\n' "$out" | grep -c '^\(not \)\?ok ')
printf '1..%d\n' $((n + 7))
printf '%s\n' "$out" | grep -v '^1\.\.'
if [ "$rc" -eq 0 ]; then
	echo "ok $((n + 1)) - wire.py selftest exits 0"
else
	echo "not ok $((n + 1)) - wire.py selftest exits $rc"
	failed=1
fi
py=$(python3 -c 'import sys; sys.path.insert(0, "tests/lib"); import wire
print(wire.C_RESPONSE_HEX)')
c=$(sed -n '/^static const char c_response_hex\[\] =/,/;$/p' \
    tests/unit/test_wire.c | grep -o '"[0-9a-f]*"' | tr -d '"\n')
if [ -n "$py" ] && [ "$py" = "$c" ]; then
	echo "ok $((n + 2)) - wire.py and test_wire.c hold the same C response"
else
	echo "not ok $((n + 2)) - wire.py and test_wire.c C responses differ"
	echo "# wire.py:     $py"
	echo "# test_wire.c: $c"
	failed=1
fi

# batch NAME PROVIDER WANT PYTHON-LIST: the worker for PROVIDER (as nobody)
# given the requests the list makes (r: a request for the test provider,
# CUT: a message cut short); WANT is "STATUS [CLASS...]".
batch() {
	local got
	if [ ! -x "$WORKER" ] || [ "$(id -u)" -ne 0 ]; then
		echo "ok $((n + k)) - $1 # SKIP needs root and $WORKER"
		k=$((k + 1))
		return
	fi
	got=$(python3 - "$WORKER" "$2" "$4" <<'PY' 2>&1
import sys
sys.path.insert(0, "tests/lib")
import wire
r = {"op": "apply", "provider": "test", "login": "app",
     "new_secret": b"s3cret-candidate"}
CUT = wire.encode_request(r)[:-1]
st, res, err = wire.call_worker_batch(
    sys.argv[1], ["--provider", sys.argv[2], "--user", "nobody"],
    eval(sys.argv[3]), 30)
print(st, *[x["class"] for x in res])
PY
)
	if [ "$got" = "$3" ]; then
		echo "ok $((n + k)) - $1"
	else
		echo "not ok $((n + k)) - $1"
		printf '# want: %s\n# got:  %s\n' "$3" "$got"
		failed=1
	fi
	k=$((k + 1))
}
k=3
batch "a provider without batches (test) given two requests answers the first only" \
    test "0 none" "[r, r]"
# postgresql takes batches; a request for the test provider is refused
# (fatal) without reaching any server.
batch "a batch provider (postgresql) answers each of 3 requests, in order, until end of file" \
    postgresql "0 fatal fatal fatal" "[r, r, r]"
batch "... at most WIRE_BATCH_MAX (64) of them: the 65th is not read" \
    postgresql "0$(printf ' fatal%.0s' $(seq 64))" "[r] * 65"
batch "... a message cut short after an answer: that answer, exit 5" \
    postgresql "5 fatal" "[r, CUT]"
batch "... a message cut short as the first: no answer, exit 2" \
    postgresql "2" "[CUT]"
exit "$failed"
