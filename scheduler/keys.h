/*
 * keys: the store's key ceremony and first secrets, for `rotad --init`,
 * `rotad --rekey` and the daemon's start.
 */
#ifndef ROTAD_KEYS_H
#define ROTAD_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

struct job_user;

/*
 * For each credential of SET the daemon will use that ST holds no current
 * secret for, call FN with its store slot ("USER" or "USER/private_key")
 * and its user: a managed user's password and (when it rotates it) key,
 * and an admin_user's password.  With FILES, a credential whose file
 * (password_file, private_key_file) rotad will import counts as seeded.
 * Returns how many, or a negative errno (store_last_error() says why).
 */
typedef void keys_unseeded_fn(
    const char *slot, const struct job_user *u, void *arg);
int keys_unseeded(const struct job_set *set, struct store *st, bool files,
    keys_unseeded_fn *fn, void *arg);

/*
 * Take the store's lock, <STORE_PATH>.lock, with flock(), for as long as
 * the returned descriptor stays open (close-on-exec, so workers never
 * hold it): the daemon for its whole life, `rotad --rekey` while it
 * works, so that neither runs beside the other.  The holder's pid is
 * written into the file for the message.  Returns the descriptor, -EBUSY
 * when another process holds the lock, or another -errno; WHY says it.
 */
int keys_lock_store(const char *store_path, char *why, size_t size);

#endif
