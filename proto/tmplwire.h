/*
 * tmplwire: the daemon <-> worker template protocol, over one Unix
 * SOCK_SEQPACKET socket (the template's fd 0), each message one packet,
 * some carrying file descriptors (SCM_RIGHTS).
 *
 * The template is `rotad-worker --template`: a process the daemon starts
 * before it reads any secret, which holds none and never reads a request,
 * and keeps a few forks of itself idle, each waiting for the one step it
 * will run (worker/forkserver.h).  The daemon never forks for a step; it
 * hands an idle child the step's pipes:
 *
 *   template -> daemon  READY   child ID (pid PID) waits, idle; carries
 *                               a pidfd of it, through which the daemon
 *                               signals it (its deadline) without a race
 *                               with the pid's reuse
 *   daemon -> template  START   child ID is to run the worker with these
 *                               arguments (argv without argv[0]); carries
 *                               its fd 0, 1 and 2 (the request pipe's
 *                               read end, the response pipe's write end,
 *                               the daemon's stderr).  The template sends
 *                               the same message on to the child.
 *   template -> daemon  EXITED  child ID (pid PID) has exited, STATUS as
 *                               waitpid() put it; one per READY, whether
 *                               the child ran a step or died idle
 *   template -> daemon  STALE   a file the template runs code of (the one
 *                               argument: its path) was replaced on disk
 *                               since it mapped it, a library upgraded:
 *                               its children would run the old code, so
 *                               the daemon starts another template; sent
 *                               once at most
 *
 * Ids are the template's, never reused in its life: a START for a child
 * that died meanwhile cannot reach another.  Packets are ordered: an
 * EXITED comes after its READY.
 *
 * A message: version (1 byte, 1), type (1), argc (2), id (8), pid (4),
 * status (4), the argv area's length (4), then the argv area: argc
 * strings, each non-empty, NUL-terminated, at most TMPLWIRE_ARG_MAX bytes
 * (NUL not counted), filling it exactly.  Integers big-endian.  A packet
 * over TMPLWIRE_MAX, of an unknown version or type, with fields its type
 * does not use set, an argv area that is not exactly its strings, or
 * carrying another number of descriptors than its type does is refused
 * with -EBADMSG (any descriptor it carried closed).  The decoder is
 * fuzzed (tests/fuzz/fuzz_tmplwire.c).
 *
 * libc only.
 */
#ifndef ROTAD_TMPLWIRE_H
#define ROTAD_TMPLWIRE_H

#include <stddef.h>
#include <stdint.h>

#define TMPLWIRE_MAX (64 * 1024) /* one packet */
#define TMPLWIRE_ARGS_MAX 64     /* argc */
#define TMPLWIRE_ARG_MAX 4096    /* one argument, NUL not counted */
#define TMPLWIRE_FDS_MAX 3       /* descriptors one packet carries */

enum tmplwire_type {
	TMPLWIRE_START = 1,
	TMPLWIRE_READY,
	TMPLWIRE_EXITED,
	TMPLWIRE_STALE,
	TMPLWIRE__MAX,
};

struct tmplwire_msg {
	enum tmplwire_type type;
	uint64_t id;
	int32_t pid;    /* READY, EXITED */
	int32_t status; /* EXITED: waitpid()'s status word */
	/* START: argc arguments, NULL-terminated; STALE: exactly one.
	 * Decoded: one allocation the message owns (tmplwire_msg_clear()). */
	char **argv;
	size_t argc;
};

/* How many descriptors a message of TYPE carries (START 3, READY 1). */
size_t tmplwire_nfds(enum tmplwire_type type);

/* Frees a decoded message's argv and zeroes it.  NULL-safe. */
void tmplwire_msg_clear(struct tmplwire_msg *m);

/*
 * M into BUF (SIZE bytes); its length in *ret_len.  0, -EINVAL (a field
 * its type does not take, an argument empty or too long, too many) or
 * -EMSGSIZE.
 */
int tmplwire_encode(
    const struct tmplwire_msg *m, uint8_t *buf, size_t size, size_t *ret_len);

/* One packet (BUF, LEN) into *M, which the caller clears.  0, -EBADMSG or
 * -ENOMEM; on error *M holds nothing. */
int tmplwire_decode(const void *buf, size_t len, struct tmplwire_msg *m);

/*
 * Send M on SOCK with its type's descriptors FDS (which stay the
 * caller's), in one packet, without SIGPIPE.  0 or -errno: -EAGAIN from a
 * non-blocking socket that is full.
 */
int tmplwire_send(int sock, const struct tmplwire_msg *m, const int *fds);

/*
 * Receive one packet from SOCK into *M (the caller clears it) and its
 * descriptors into FDS (TMPLWIRE_FDS_MAX slots; the caller owns those the
 * type carries, close-on-exec; the others are -1).  0, -EAGAIN (nothing
 * yet, non-blocking), -EPIPE (the peer has closed, or died), -EBADMSG (a
 * packet refused: its descriptors closed) or -errno.
 */
int tmplwire_recv(int sock, struct tmplwire_msg *m, int *fds);

const char *tmplwire_type_name(enum tmplwire_type t);

#endif
