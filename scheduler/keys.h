/*
 * keys: the store's key ceremony and first secrets, for `rotad --init`,
 * `rotad --rekey` and the daemon's start.
 */
#ifndef ROTAD_KEYS_H
#define ROTAD_KEYS_H

struct job_set;
struct store;

/* `rotad --init`: create the master key (if missing) and the store, then
 * import the first secrets.  Returns an exit status; reports on stderr. */
int keys_init(const char *config);

/* `rotad --rekey`: a new master key, the store's data key re-wrapped under
 * it, the old key file replaced.  Returns an exit status. */
int keys_rekey(const char *config);

/*
 * Import each user's password_file / private_key_file into ST, once: only
 * for a user whose slot has no current secret yet.  The private key is
 * stored under "USER/private_key".  Returns how many secrets were imported,
 * or a negative errno; a file that cannot be read is reported on stderr and
 * skipped.
 */
int keys_import(const struct job_set *set, struct store *st, int64_t now);

#endif
