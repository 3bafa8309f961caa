/*
 * script_input: the one line a post-rotation script reads on stdin, as
 * Keeper's gateway writes it: base64 of a JSON object
 *
 *   {"providerRecordUid": ..., "resourceRecordUid": ..., "userRecordUid":
 *    ..., "newPassword": ..., "oldPassword": ..., "user": LOGIN,
 *    "records": base64(JSON array of {"uid", "title", LABEL: VALUE, ...})}
 *
 * Built by the daemon, in memory of struct secret (it holds two
 * passwords), with the JSON written by hand rather than through a JSON
 * library that would leave copies on the heap.
 */
#ifndef ROTAD_SCRIPT_INPUT_H
#define ROTAD_SCRIPT_INPUT_H

#include <stdbool.h>
#include <stddef.h>

struct secret;

/* One record of the "records" array: uid, title, then label: value. */
struct script_record {
	const char *uid;
	const char *title;
	const char *const *labels; /* N of each */
	const char *const *values;
	size_t n;
};

struct script_input {
	const char *provider_uid; /* the configuration's name, or "" */
	const char *resource_uid; /* the resource's name, or "" */
	const char *user_uid;     /* the user's name */
	const char *user;         /* the login */
	const struct secret *new_password;
	const struct secret *old_password; /* NULL: "" */
	/* The two are SSH private keys: written as newPrivateKey and
	 * oldPrivateKey (Keeper names only the passwords). */
	bool private_key;
	const struct script_record *records;
	size_t nrecords;
};

/* The base64 line (no newline) in a new secret in *out.  0 or -ENOMEM /
 * -EINVAL (a string that is not UTF-8). */
int script_input_build(const struct script_input *in, struct secret **out);

#endif
