/*
 * workers: the daemon's live workers, on disk, so that the daemon's next
 * life can end what this one left running.
 *
 * A worker dies with the daemon (PR_SET_PDEATHSIG, in worker.c), but a
 * worker that outlived a daemon all the same (a kernel that cleared the
 * signal, a parent that died in the instant before the worker asked for
 * it) must not run beside the next life's recovery: its apply could land
 * after recovery has decided that the target holds the other secret.  So
 * each worker's pid and start time (field 22 of /proc/PID/stat, in clock
 * ticks since boot: a reused pid has another) are kept in a file, the
 * store's path with ".workers" appended, mode 0600, rewritten whole in
 * place at each spawn and each exit (workers.c: padded, so no older line
 * outlives its record).  It is not fsynced: its reader is the next life
 * on the same boot (a power loss ends every worker, and a start time
 * from another boot is checked like any), and the page cache serves it
 * that; an fsync per spawn and exit held the loop a millisecond each
 * time, for nothing.  At start, before recovery, every process it lists
 * that still runs with the same start time and is a rotad-worker is
 * SIGKILLed and waited for.
 *
 * A worker forked from the worker template (template.h) is listed like
 * any other: spawn gives its own pid, and it is named rotad-worker (a
 * fork keeps the template's name).  The template and its idle children
 * are not listed: they run no step, die with the daemon (their parent-
 * death signals: the template's on the daemon, the children's on the
 * template), and exit anyway when their socket's other end closes, so
 * none of them can start a step for a daemon that is gone.
 *
 * Daemon bookkeeping: it allocates with xalloc and logs what it does.
 */
#ifndef ROTAD_WORKERS_H
#define ROTAD_WORKERS_H

struct workers;

/* The record for the store at STORE_PATH; nothing is read yet. */
struct workers *workers_new(const char *store_path);

/* NULL-safe. */
void workers_free(struct workers *w);

/*
 * End the workers of a previous life that the record lists and that
 * still run (logged, each), wait until they are gone, and empty the
 * record.  0, or -EBUSY when one would not die: then recovery must not
 * start.
 */
int workers_end_previous(struct workers *w);

/* PID is a worker of ours from now on, or has exited.  A record that
 * cannot be written is logged; the daemon goes on. */
void workers_add(struct workers *w, int pid);
void workers_remove(struct workers *w, int pid);

#endif
