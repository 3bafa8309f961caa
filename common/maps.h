/*
 * maps: /proc/self/maps, read for what a long-lived process must know of
 * its own code: whether a file it runs was replaced on disk since it
 * mapped it (a package upgrade of a library it links, or of its own
 * binary).  The worker template and rotad-deliver ask, and are replaced
 * by fresh processes when it was: a process started before an upgrade
 * runs the old code, security fixes missing, for as long as it lives.
 *
 * The kernel writes each line as "START-END PERMS OFFSET MAJ:MIN INODE"
 * and, for a mapping of a file, spaces and the file's path, with
 * " (deleted)" after it once the file was unlinked: what a package
 * manager does to the old file when it renames the new one into its
 * place.  A path may itself hold spaces.
 *
 * libc only; fuzzed (tests/fuzz/fuzz_maps.c).
 */
#ifndef ROTAD_MAPS_H
#define ROTAD_MAPS_H

#include <stddef.h>

/*
 * Whether LINE (one line, its newline stripped or not) maps executable
 * code of a file that was unlinked since: permissions with 'x', an inode
 * other than 0, an absolute path ending in " (deleted)", and not a
 * memfd's ("/memfd:", anonymous memory that shows as deleted from the
 * start).  1 with the path, without the suffix, in PATH (SIZE bytes, NUL
 * included; cut short when longer); 0 for any other line, one that is
 * not of that form included.
 */
int maps_replaced(const char *line, char *path, size_t size);

/*
 * Whether this process runs code of a file replaced on disk: the first
 * line of /proc/self/maps that maps_replaced() takes, its path in PATH.
 * 1, 0 (none, or no /proc to read: nothing learnt), or -ENOMEM.
 */
int maps_self_replaced(char *path, size_t size);

/*
 * The same over FD, /proc/self/maps opened once by the caller (whose
 * seccomp filter may forbid opening it later), read from its start each
 * time.  1, 0 or -ENOMEM, as above.
 */
int maps_fd_replaced(int fd, char *path, size_t size);

#endif
