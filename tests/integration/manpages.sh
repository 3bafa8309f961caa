#!/bin/bash
# The man pages against the programs (issue 15): every option each
# program's --help prints appears in its page's SYNOPSIS or OPTIONS (or
# COMMANDS), each rotactl command of --help has an entry of its own under
# COMMANDS, meson installs every page, and each renders without a groff
# warning (where man is installed).  Fails naming what is missing.
#   tests/integration/manpages.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/tap.sh

# check PAGE HELPFILE [commands]: what --help names and PAGE does not; one
# line each, nothing when the page has them all.
check() {
	python3 - "$@" <<'EOF'
import re, sys

page, helpfile = sys.argv[1], sys.argv[2]
commands = len(sys.argv) > 3
helptext = open(helpfile).read()
roff = open(page).read()

def text(line):
    """A roff line as the words it prints: requests' arguments, escapes out."""
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\(en", "-")
    line = re.sub(r"\\f(\(..|\[[^]]*\]|.)", "", line)
    if line.startswith("."):
        line = re.sub(r"^\.\S+\s*", "", line)
    return " ".join(line.replace('"', " ").split())

sections, heads, name, prev = {}, {}, None, ""
for raw in roff.splitlines():
    if raw.startswith(".SH"):
        name = text(raw)
        prev = ""
        continue
    if name is None:
        continue
    sections.setdefault(name, []).append(text(raw))
    if prev in (".TP", ".TQ"):
        heads.setdefault(name, []).append(text(raw))
    prev = raw.split()[0] if raw.strip() else ""

where = " ".join(w for s in ("SYNOPSIS", "OPTIONS", "COMMANDS")
                 for w in sections.get(s, []))
missing = []
opts = sorted(set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", helptext)))
if not opts:
    missing.append("(--help names no option at all)")
for o in opts:
    if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", where):
        missing.append(o)
if commands:
    m = re.search(r"^commands:\n(.*?)\n\n", helptext, re.S | re.M)
    cmds = []
    for line in (m.group(1).splitlines() if m else []):
        words = []
        for w in line.split():
            if not re.fullmatch(r"[a-z]+", w):
                break
            words.append(w)
        if words:
            cmds.append(" ".join(words))
    if len(cmds) < 10:
        missing.append("(--help lists %d commands)" % len(cmds))
    for c in dict.fromkeys(cmds):
        if not any(h == c or h.startswith(c + " ")
                   for h in heads.get("COMMANDS", [])):
            missing.append("command " + c)
for m in missing:
    print(m)
EOF
}

T=$(mktemp -d /tmp/rotad-manpages.XXXXXX)
trap 'rm -rf "$T"' EXIT

# program, its page, whether the page has a COMMANDS section to check
for entry in "$B/scheduler/rotad docs/rotad.8" \
    "$B/rotad-worker docs/rotad-worker.8" \
    "$B/deliver/rotad-deliver docs/rotad-deliver.8" \
    "$B/ctl/rotactl docs/rotactl.1 commands" \
    "$B/siem/rotad-siem docs/rotad-siem.8"; do
	# shellcheck disable=SC2086
	set -- $entry
	prog=$1 page=$2
	name=${prog##*/}
	if [ ! -x "$prog" ]; then
		# rotad-siem is built only with libmicrohttpd.
		ok "$page has every option $name --help prints # SKIP $name not built"
		continue
	fi
	"$prog" --help >"$T/$name.help" 2>&1
	st=$?
	out=$(check "$page" "$T/$name.help" ${3:+"$3"} 2>&1)
	[ "$st" -eq 0 ] && [ -z "$out" ]
	verdict "$page has every option${3:+ and command} $name --help prints" $? \
	    "$name --help: exit $st" "missing from $page:" "$out"
done

# meson installs each page (a page left out of install_man is not shipped).
missing=
for page in docs/*.[1-8]; do
	grep -q "'$page'" meson.build || missing="$missing $page"
done
[ -z "$missing" ]
verdict "meson.build installs every page in docs/ (install_man)" $? \
    "not installed:$missing"

if command -v man >/dev/null; then
	out=
	for page in docs/*.[1-8]; do
		w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -n "$w" ] && out="$out$page: $w"$'\n'
	done
	[ -z "$out" ]
	verdict "every page renders without a groff warning (man --warnings)" $? "$out"
else
	ok "every page renders without a groff warning # SKIP no man here"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
