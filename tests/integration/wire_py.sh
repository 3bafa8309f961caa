#!/bin/bash
# The Python wire codec (tests/lib/wire.py), which the worker tests drive
# rotad-worker with, checked against itself and against the C codec: its
# selftest decodes a response the C encoder wrote (test_wire.c asserts
# the C encoder still writes exactly those bytes, and decodes a request
# wire.py wrote).  Here, the two copies of that response must agree.
# Speaks TAP.   tests/integration/wire_py.sh BUILDDIR (unused)
set -u
cd "$(dirname "$0")/../.."
out=$(python3 tests/lib/wire.py selftest 2>&1)
rc=$?
failed=0
n=$(printf '%s\n' "$out" | grep -c '^\(not \)\?ok ')
printf '1..%d\n' $((n + 2))
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
exit "$failed"
