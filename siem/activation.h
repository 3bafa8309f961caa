/*
 * activation: rotad-siem started by systemd from rotad-siem.socket, and
 * what one life of it hands the next (docs/siem.md, "Upgrades").
 *
 * systemd holds the listening socket, so rotad-siem may end and start
 * again without a connection refused: one made meanwhile waits in the
 * socket's queue for the next life.  That lets rotad-siem end itself
 * once idle when a library it runs was replaced on disk (a security
 * update of OpenSSL or GnuTLS), as rotad-deliver does.  The replay cache
 * goes with it, through a memory file that systemd keeps in the
 * service's file descriptor store (FDSTORE=1, FileDescriptorStoreMax=):
 * the next life knows what this one accepted, and need not refuse every
 * request signed before its own start, the ones that waited included.
 *
 * The file's contents are siem_auth.h's; here, only where it comes from
 * and goes to.  Every function runs before the lockdown but
 * activation_save(), which needs lseek and write only.
 */
#ifndef ROTAD_SIEM_ACTIVATION_H
#define ROTAD_SIEM_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>

#include "siem_auth.h"

#define ACTIVATION_STATE_NAME "replay"

struct activation {
	int listen_fd; /* the listening socket systemd passed, or -1 */
	int state_fd;  /* the replay state's memory file, or -1 */
	int passed;    /* 1: state_fd came from systemd (a life before) */
};

/*
 * Take what systemd passed (LISTEN_FDS, LISTEN_FDNAMES): at most one
 * listening TCP socket, and at most one memory file named "replay" from
 * the store.  Anything else is refused, as a unit that is not ours.  0
 * (A filled; nothing passed: both -1), or -errno with WHY.
 */
int activation_take(struct activation *a, char *why, size_t size);

/*
 * A fresh memory file for the state, handed to systemd's store.  A
 * service without a store (FileDescriptorStoreMax=0) drops it, silently:
 * the next life then starts without state, as after a crash.  0 or
 * -errno with WHY.
 */
int activation_store(struct activation *a, char *why, size_t size);

/*
 * Read the state a life before left into C (empty) and *NOT_BEFORE, then
 * mark the file empty, so that a crash of this life leaves no state
 * older than what this life accepts.  0, -ENOENT (none was left: the
 * life before crashed, or wrote none), -EINVAL (not a state for this
 * window), or -errno.
 */
int activation_load(struct activation *a, struct siem_replay *c, int64_t now,
    int64_t *not_before);

/*
 * Write C's live entries and NOT_BEFORE into the state file, the magic
 * last: a write cut short leaves no state.  0 or -errno.
 */
int activation_save(const struct activation *a, const struct siem_replay *c,
    int64_t not_before, int64_t now);

void activation_close(struct activation *a);

#endif
