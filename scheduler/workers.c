/*
 * workers.c: the record of the live workers (see workers.h).
 *
 * The record is small (one line per worker, at most max_workers of them)
 * and is written whole each time, so that it is never half written: the
 * next life reads either the old record or the new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "workers.h"
#include "xalloc.h"

#define WORKER_COMM "rotad-worker"
#define GONE_WAIT_MS 30000 /* SIGKILL is not refused; D state may delay */

struct worker {
	int pid;
	uint64_t start; /* field 22 of /proc/PID/stat */
};

struct workers {
	char *path, *tmp;
	struct worker *v;
	size_t n, cap;
};

struct workers *
workers_new(const char *store_path)
{
	struct workers *w = xcalloc(1, sizeof(*w));
	size_t len = strlen(store_path) + sizeof(".workers.tmp");

	w->path = xmalloc(len);
	w->tmp = xmalloc(len);
	snprintf(w->path, len, "%s.workers", store_path);
	snprintf(w->tmp, len, "%s.workers.tmp", store_path);
	return w;
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	free(w->path);
	free(w->tmp);
	free(w->v);
	free(w);
}

/*
 * PID's start time and state, from /proc/PID/stat: 0, or -ENOENT when
 * there is no such process.  The command name (field 2) may hold spaces
 * and parentheses: the fields after it start after its last ')'.
 */
static int
proc_stat(int pid, uint64_t *ret_start, char *ret_state)
{
	char path[64], buf[1024], *p;
	unsigned long long start;
	ssize_t len;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -ENOENT;
	buf[len] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return -ENOENT;
	p += 2; /* field 3, the state */
	*ret_state = *p;
	for (i = 3; i < 22; i++) {
		if ((p = strchr(p, ' ')) == NULL)
			return -ENOENT;
		p++;
	}
	if (sscanf(p, "%llu", &start) != 1)
		return -ENOENT;
	*ret_start = start;
	return 0;
}

/* Whether PID runs rotad-worker (its comm: readable whatever its uid,
 * where /proc/PID/exe of a non-dumpable worker is not). */
static bool
is_worker(int pid)
{
	char path[64], comm[32];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (len <= 0)
		return false;
	comm[len] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, WORKER_COMM) == 0;
}

/* Whether the process PID that started at START still lives (a zombie
 * is dead: its files, its connections, are closed). */
static bool
alive(int pid, uint64_t start)
{
	uint64_t now_start;
	char state;

	return proc_stat(pid, &now_start, &state) == 0 && now_start == start &&
	    state != 'Z' && state != 'X';
}

/* Write the record whole.  0 or -errno. */
static int
save(struct workers *w)
{
	FILE *f = NULL;
	size_t i;
	int fd, r = 0;

	fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((f = fdopen(fd, "w")) == NULL) {
		r = -errno;
		close(fd);
		goto out;
	}
	for (i = 0; i < w->n; i++)
		fprintf(f, "%d %" PRIu64 "\n", w->v[i].pid, w->v[i].start);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(w->tmp, w->path) < 0)
		r = -errno;
	if (r == 0)
		r = fsutil_fsync_dir(w->path);
out:
	if (r < 0) {
		(void)unlink(w->tmp);
		log_msg(LOG_ERR, MSG_STORE, "%s: %s", w->path, strerror(-r));
	}
	return r;
}

/* Sleep MS milliseconds (a start-up wait, before the loop runs). */
static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
workers_end_previous(struct workers *w)
{
	struct worker *v = NULL;
	size_t n = 0, cap = 0, i;
	unsigned long long start;
	FILE *f;
	int pid, r = 0;
	long waited;

	f = fopen(w->path, "re");
	if (f == NULL)
		return 0; /* no record: no worker was ever started */
	while (fscanf(f, "%d %llu", &pid, &start) == 2) {
		if (pid <= 1 || !alive(pid, start) || !is_worker(pid))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n].pid = pid;
		v[n++].start = start;
		(void)kill(pid, SIGKILL);
		log_msg(LOG_WARNING, MSG_RECOVER,
		    "ended worker %d, left running by the previous life of "
		    "the daemon, before recovery",
		    pid);
	}
	fclose(f);
	for (i = 0; i < n; i++) {
		for (waited = 0; alive(v[i].pid, v[i].start); waited += 10) {
			if (waited >= GONE_WAIT_MS) {
				log_msg(LOG_ERR, MSG_RECOVER,
				    "worker %d of the previous life does not "
				    "die; not recovering beside it",
				    v[i].pid);
				r = -EBUSY;
				goto out;
			}
			pause_ms(10);
		}
	}
	/* Emptied; a record that cannot be written is logged by save(),
	 * and the next life will find nothing of it alive anyway. */
	w->n = 0;
	(void)save(w);
out:
	free(v);
	return r;
}

void
workers_add(struct workers *w, int pid)
{
	uint64_t start;
	char state;

	/* Gone already (it can die before we look): nothing to record. */
	if (proc_stat(pid, &start, &state) < 0)
		return;
	if (w->n == w->cap) {
		w->cap = w->cap == 0 ? 8 : w->cap * 2;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
	}
	w->v[w->n].pid = pid;
	w->v[w->n++].start = start;
	(void)save(w);
}

void
workers_remove(struct workers *w, int pid)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->v[i].pid == pid) {
			w->v[i] = w->v[--w->n];
			(void)save(w);
			return;
		}
}
