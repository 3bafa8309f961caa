/*
 * template: the daemon's side of the worker template, `rotad-worker
 * --template` (what it is and holds: worker/forkserver.h; what the two
 * say: proto/tmplwire.h).
 *
 * The daemon starts it once, before it opens the store or reads any
 * secret, and from then on a step's worker is one of the template's idle
 * forks, handed the step's pipes: the daemon never forks itself for a
 * step, so its size no longer costs anything per step, and a worker
 * starts with its libraries already mapped and relocated.  spawn.c uses
 * it (spawn_set_template()) and falls back to fork and exec whenever it
 * cannot: no template running, none of its children idle, another
 * worker path.
 *
 * The template process can die (a bug, a kill, the OOM killer).  Its
 * children running steps die with it (their parent-death signal); the
 * daemon sends them SIGKILL through their pidfds as well, and reports
 * each as ended by SIGKILL once its pidfd says it has exited.  Then
 * another template is started, at most one a second, and one every
 * minute at most while each dies young; meanwhile workers are fork and
 * exec'd.  Each start, death and restart is logged (ROTAD-0060).  A
 * reload (template_restart()) starts a new template when the worker
 * binary, worker.path or the pool changed, so that they take effect; the
 * old one goes on serving until the new one has a child ready, and exits
 * once its last step has ended.  So does a template that says it runs
 * code of a file replaced on disk (STALE: a library upgraded), without a
 * reload, at most once a second and backing off while each says so young
 * (logged, ROTAD-0060): its workers would run the old code, where an
 * exec'd worker would run the new.
 *
 * Daemon bookkeeping: it allocates with malloc and returns -ENOMEM like
 * spawn.c (its unit test and the bench link it), and logs.
 */
#ifndef ROTAD_TEMPLATE_H
#define ROTAD_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct template;
struct template_child;

/* A child has exited: EXIT_CODE its exit status, or 128 + the signal that
 * ended it (as spawn.h's). */
typedef void template_exit_cb(int exit_code, void *arg);

/*
 * Start the template of the rotad-worker at PATH on LOOP, keeping POOL
 * (1 to 64) children idle.  0 with *RET set, or -ENOMEM.  A process that
 * does not start is logged and tried again later: until then workers are
 * fork and exec'd.
 */
int template_start(
    uv_loop_t *loop, const char *path, unsigned pool, struct template **ret);

/* A reload: a new template of PATH with POOL idle children, unless the
 * one serving runs the same file, unchanged, with as many; the current
 * one serves until the new one is ready, then ends after its steps. */
void template_restart(struct template *t, const char *path, unsigned pool);

/*
 * No more steps; every template process exits once its last step has
 * ended, and T is freed when its handles are closed (do not use it
 * after).  NULL-safe.
 */
void template_stop(struct template *t);

/* Whether T has at least N children of the worker at PATH idle now. */
bool template_ready(const struct template *t, const char *path, size_t n);

/*
 * Start a worker with ARGV (argv[0] must be T's worker path; the rest is
 * the worker's command line) in an idle child of T, its fds 0, 1 and 2
 * dup'd from FDS (which stay the caller's).  0: *RET is the child, valid
 * until CB, which is called exactly once, when it has exited.  -EAGAIN:
 * T cannot now (no process, no idle child, another path): start the
 * worker otherwise.  Another -errno: a failure of the socket (then T
 * treats its process as lost).
 */
int template_fork(struct template *t, const char *const *argv, const int fds[3],
    template_exit_cb *cb, void *arg, struct template_child **ret);

/* Send SIG to C (through its pidfd: never another process).  0 or
 * -errno. */
int template_child_kill(struct template_child *c, int sig);

int template_child_pid(const struct template_child *c);

#endif
