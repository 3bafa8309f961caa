/*
 * authkeys: the editing of an OpenSSH authorized_keys file when the ssh
 * provider rotates a user's key, with Keeper's semantics: our key is the
 * one line whose comment is our tag, and Keeper's own tag is adopted.
 *
 * Pure and libc only: the worker reads the file from the target and
 * writes the result back; these functions only turn bytes into bytes.
 * The file comes from the target machine, so it is parsed as hostile
 * input, and every line this module does not edit is copied byte for
 * byte, whatever it holds.
 *
 * The format is sshd(8)'s AUTHORIZED_KEYS FILE FORMAT: one key a line,
 * `[options] keytype base64 [comment]`, blank lines and lines starting
 * with '#' ignored; options are comma-separated and may hold
 * double-quoted strings with blanks and \" in them.  Lines end in LF; a
 * CR before it, and a last line without one, are tolerated.
 *
 * A line is tagged when it is a well-formed key line whose comment (what
 * follows the base64 field, blanks trimmed) is TAG exactly, or the
 * ADOPT_TAG of the system we take over from ("keeper-security-deploy").
 * Every other line is untagged, malformed ones included.
 */
#ifndef ROTAD_AUTHKEYS_H
#define ROTAD_AUTHKEYS_H

#include <stdbool.h>
#include <stddef.h>

/* The largest file read or written: an authorized_keys file is small, and
 * a bound keeps a hostile one from costing the worker memory. */
#define AUTHKEYS_MAX_SIZE (1024 * 1024)
/* The longest tag; a tag is 1..64 characters of [A-Za-z0-9._@-]. */
#define AUTHKEYS_TAG_MAX 64

/* What authkeys_set() did to the file. */
enum authkeys_action {
	AUTHKEYS_UNCHANGED, /* the result is the input: write nothing */
	AUTHKEYS_APPENDED,  /* no tagged line: ours was added at the end */
	AUTHKEYS_REPLACED,  /* the TAG line now holds the key */
	AUTHKEYS_ADOPTED,   /* the ADOPT_TAG line now holds it, with TAG */
	AUTHKEYS_REMOVED,   /* an untagged line holds the key: ours went */
};

struct authkeys_change {
	enum authkeys_action action;
	/* Tagged lines removed besides the one the action names: a second
	 * TAG line, or an ADOPT_TAG line once a TAG line exists. */
	size_t duplicates;
};

/*
 * Set KEYLINE ("TYPE BASE64": a known key type, one space, base64 with
 * its padding; no options, no comment) as the tagged key of the file OLD
 * (OLDLEN bytes; NULL when OLDLEN is 0, an absent file).
 *
 * The line to edit is the first tagged with TAG, else the first tagged
 * with ADOPT_TAG (NULL: adopt nothing).  It becomes "TYPE BASE64 TAG",
 * keeping what stood before its key type (options) and its line end;
 * every other tagged line is removed.  With no tagged line,
 * "TYPE BASE64 TAG\n" is appended, after a '\n' when the file does not
 * end in one.  When an untagged line already holds the same key (type
 * and base64, whatever its options or comment), the operator's line
 * authorizes it: the tagged lines are removed and nothing is appended.
 * All other lines are copied byte for byte.
 *
 * On success, *ret_new is a malloc'd copy of the result, NUL-terminated
 * after its *ret_newlen bytes, even when ret_change->action is
 * AUTHKEYS_UNCHANGED (then it equals OLD): a caller that writes it back
 * regardless writes the same bytes, never an empty file.  Returns 0,
 * -EINVAL (TAG, ADOPT_TAG or KEYLINE not well-formed, OLD NULL with
 * OLDLEN > 0), -E2BIG (OLD or the result over AUTHKEYS_MAX_SIZE) or
 * -ENOMEM; on failure the outputs are untouched.
 */
int authkeys_set(const char *old, size_t oldlen, const char *tag,
    const char *adopt_tag, const char *keyline, char **ret_new,
    size_t *ret_newlen, struct authkeys_change *ret_change);

/*
 * Whether a key line of TEXT (LEN bytes) holds the key of KEYLINE (as for
 * authkeys_set()), whatever its options or comment, tagged or not: into
 * *ret_found.  0, -EINVAL or -E2BIG.
 */
int authkeys_find(
    const char *text, size_t len, const char *keyline, bool *ret_found);

/*
 * The key ("TYPE BASE64") of the line authkeys_set() would edit: the
 * first tagged with TAG, else the first tagged with ADOPT_TAG (may be
 * NULL), into BUF (SIZE bytes), NUL-terminated.  0, -ENOENT (no tagged
 * line), -ENOBUFS (BUF too small), -EINVAL or -E2BIG.
 */
int authkeys_tagged_key(const char *text, size_t len, const char *tag,
    const char *adopt_tag, char *buf, size_t size);

#endif
