#!/usr/bin/env python3
"""Check what a traced daemon did against what its systemd unit allows.

    unit_check.py syscalls UNIT STRACE_LOG
    unit_check.py families UNIT STRACE_LOG
    unit_check.py writes   UNIT STRACE_LOG
    unit_check.py allows   UNIT SYSCALL...
    unit_check.py settings UNIT SETTING...

STRACE_LOG is `strace -f -o` output of the daemon's life, from the exec of
ExecStart= on (earlier lines, a launcher's, are skipped), its workers and
the scripts they ran included: systemd applies the unit's filters to the
whole process tree.  Each mode prints one line per thing the unit would
refuse, then a summary, and exits 1 if there was any:

  syscalls  every system call made is allowed by SystemCallFilter= (the
            groups expanded by `systemd-analyze syscall-filter`)
  families  every socket() family is in RestrictAddressFamilies=
  writes    every path written, created, removed, renamed, chmod'ed or
            bound is below a writable path of ProtectSystem=strict: the
            unit's ReadWritePaths=, StateDirectory=, RuntimeDirectory=,
            PrivateTmp='s /tmp and /var/tmp, PrivateDevices='s /dev
  allows    each SYSCALL named is allowed by SystemCallFilter= (what a
            worker's own seccomp allow-list may call, traced or not)
  settings  each SETTING holds in the unit: KEY=VALUE, KEY is set and its
            last assignment is VALUE (KEY= : set, and empty); KEY~WORD, a
            KEY= line holds WORD among its words; !KEY, no KEY= line
"""
import re
import subprocess
import sys

# A call as strace starts it ("PID name(args"); its "<... name resumed>"
# line, when another process interrupted it, is the same call.
LINE = re.compile(r'^\d+\s+([a-z0-9_]+)\(')


def unit_values(unit, key):
    vals = []
    with open(unit) as f:
        for line in f:
            line = line.strip()
            if line.startswith(key + '='):
                vals.append(line[len(key) + 1:])
    return vals


def expand(name, seen=None):
    """The system calls of NAME: a group (@...) or one call."""
    if not name.startswith('@'):
        return {name}
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(['systemd-analyze', 'syscall-filter', name],
                         capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip().split(' ')[0]
        if not word or word.startswith('#'):
            continue
        calls |= expand(word, seen)
    return calls


def allowed_syscalls(unit):
    allow = None
    for v in unit_values(unit, 'SystemCallFilter'):
        deny = v.startswith('~')
        names = set()
        for n in v.lstrip('~').split():
            names |= expand(n)
        if allow is None:
            if deny:
                sys.exit('unit_check: a deny-list SystemCallFilter= is '
                         'not handled here')
            allow = set()
        if deny:
            allow -= names
        else:
            allow |= names
    if allow is None:
        sys.exit('unit_check: the unit has no SystemCallFilter=')
    return allow


def traced(log, exec_path):
    """The strace lines from the exec of EXEC_PATH on."""
    lines = []
    started = False
    with open(log, errors='replace') as f:
        for line in f:
            if not started:
                started = re.search(r'execve\("' + re.escape(exec_path) +
                                    r'"', line) is not None
                if not started:
                    continue
            lines.append(line.rstrip('\n'))
    if not started:
        sys.exit('unit_check: no execve of %s in %s' % (exec_path, log))
    return lines


def check_syscalls(unit, lines):
    allow = allowed_syscalls(unit)
    seen = {}
    pending = {}  # pid -> a call strace saw start but not yet end
    # A process killed (SIGKILL) in a call never ran it to its end; at
    # the entry strace may not even read its number right
    # ("syscall_0x3c10"), and under the unit it would not have run
    # either.  Such a call (no end, or the end "= ?") is not held against
    # the filter; every call that ran is.
    killed = set(line.split(None, 1)[0] for line in lines
                 if '+++ killed by SIGKILL' in line)
    for line in lines:
        m = LINE.match(line)
        pid = line.split(None, 1)[0] if line[:1].isdigit() else None
        if m and '<unfinished ...>' in line:
            pending[pid] = m.group(1)
            continue
        if m:
            name = m.group(1)
        elif pid is not None and 'resumed>' in line and pid in pending:
            name = pending.pop(pid)
        else:
            continue
        if pid in killed and line.rstrip().endswith('= ?'):
            continue
        seen[name] = seen.get(name, 0) + 1
    bad = sorted(n for n in seen if n not in allow)
    for n in bad:
        print('refused by SystemCallFilter=: %s (called %d times)' %
              (n, seen[n]))
    print('%d distinct system calls made, %d refused by the unit' %
          (len(seen), len(bad)))
    return not bad


def check_families(unit, lines):
    allow = set()
    for v in unit_values(unit, 'RestrictAddressFamilies'):
        allow |= set(v.split())
    seen = {}
    for line in lines:
        m = re.match(r'^\d+\s+socket\((AF_[A-Z0-9]+)', line)
        if m:
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    bad = sorted(f for f in seen if f not in allow)
    for f in bad:
        print('refused by RestrictAddressFamilies=: socket(%s)' % f)
    print('socket() families used: %s; %d refused by the unit' %
          (' '.join('%s x%d' % (f, seen[f]) for f in sorted(seen)) or
           'none', len(bad)))
    return not bad


# A path argument of a call that writes: (call, regex of its path).
WRITES = [
    (r'open(?:at)?\((?:AT_FDCWD, )?"([^"]*)", [^)]*O_(?:WRONLY|RDWR|CREAT)',
     'open for writing'),
    (r'creat\("([^"]*)"', 'creat'),
    (r'(?:mkdir|mkdirat)\((?:AT_FDCWD, )?"([^"]*)"', 'mkdir'),
    (r'(?:unlink|unlinkat|rmdir)\((?:AT_FDCWD, )?"([^"]*)"', 'remove'),
    (r'(?:rename|renameat2?)\((?:AT_FDCWD, )?"([^"]*)"', 'rename'),
    (r'(?:rename|renameat2?)\((?:AT_FDCWD, )?"[^"]*", (?:AT_FDCWD, )?'
     r'"([^"]*)"', 'rename to'),
    (r'(?:chmod|fchmodat|chown|lchown|fchownat)\((?:AT_FDCWD, )?"([^"]*)"',
     'chmod/chown'),
    (r'bind\(\d+, \{sa_family=AF_UNIX, sun_path="([^"]*)"', 'bind'),
]


def writable_paths(unit):
    paths = ['/tmp', '/var/tmp', '/dev']
    for v in unit_values(unit, 'ReadWritePaths'):
        paths += [p.lstrip('-') for p in v.split()]
    for v in unit_values(unit, 'StateDirectory'):
        paths += ['/var/lib/' + p for p in v.split()]
    for v in unit_values(unit, 'RuntimeDirectory'):
        paths += ['/run/' + p for p in v.split()]
    return list(dict.fromkeys(paths))


def check_writes(unit, lines):
    rw = writable_paths(unit)
    bad = []
    count = 0
    for line in lines:
        for pattern, what in WRITES:
            m = re.search(pattern, line)
            if not m:
                continue
            path = m.group(1)
            count += 1
            if not path.startswith('/'):
                bad.append('%s of a relative path %s: %s' % (what, path, line))
            elif not any(path == p or path.startswith(p + '/') for p in rw):
                bad.append('%s outside the writable paths: %s' %
                           (what, line))
    for b in bad:
        print(b)
    print('%d writes, %d outside %s' % (count, len(bad), ' '.join(rw)))
    return not bad


def check_allows(unit, names):
    allow = allowed_syscalls(unit)
    bad = sorted(set(n for n in names if n not in allow))
    for n in bad:
        print('refused by SystemCallFilter=: %s' % n)
    print('%d system calls named, %d refused by the unit' %
          (len(set(names)), len(bad)))
    return not bad


def check_settings(unit, settings):
    bad = []
    for s in settings:
        if s.startswith('!'):
            vals = unit_values(unit, s[1:])
            if vals:
                bad.append('%s: set, to %s' % (s, ' and '.join(vals)))
        elif '=' in s and ('~' not in s or s.index('=') < s.index('~')):
            key, want = s.split('=', 1)
            vals = unit_values(unit, key)
            if not vals:
                bad.append('%s: %s is not set' % (s, key))
            elif ' '.join(vals[-1].split()) != ' '.join(want.split()):
                bad.append('%s: %s=%s' % (s, key, vals[-1]))
        elif '~' in s:
            key, word = s.split('~', 1)
            if not any(word in v.split() for v in unit_values(unit, key)):
                bad.append('%s: no %s= line holds %s (%s)' %
                           (s, key, word,
                            ' | '.join(unit_values(unit, key)) or 'unset'))
        else:
            sys.exit('unit_check: %s: KEY=VALUE, KEY~WORD or !KEY' % s)
    for b in bad:
        print('not as wanted: ' + b)
    print('%d settings checked, %d not as wanted' % (len(settings), len(bad)))
    return not bad


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'allows':
        sys.exit(0 if check_allows(sys.argv[2], sys.argv[3:]) else 1)
    if len(sys.argv) >= 3 and sys.argv[1] == 'settings':
        sys.exit(0 if check_settings(sys.argv[2], sys.argv[3:]) else 1)
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mode, unit, log = sys.argv[1:]
    execs = unit_values(unit, 'ExecStart')
    if not execs:
        sys.exit('unit_check: no ExecStart= in ' + unit)
    lines = traced(log, execs[0].split()[0].lstrip('-@:+!'))
    check = {'syscalls': check_syscalls, 'families': check_families,
             'writes': check_writes}.get(mode)
    if check is None:
        sys.exit(__doc__)
    sys.exit(0 if check(unit, lines) else 1)


if __name__ == '__main__':
    main()
