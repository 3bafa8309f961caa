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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "workers.h"
#include "xalloc.h"

#define WORKER_COMM "rotad-worker"
#define RECORD_MAX 65536 /* bytes: far more than max_workers lines */
#define GONE_WAIT_MS 30000 /* SIGKILL is not refused; D state may delay */

struct worker {
	int pid;
	uint64_t start; /* field 22 of /proc/PID/stat */
};

struct workers {
	char *path;
	int fd;      /* the record, open from the first save() on */
	size_t high; /* the longest record written: the file's length */
	struct worker *v;
	size_t n, cap;
};

struct workers *
workers_new(const char *store_path)
{
	struct workers *w = xcalloc(1, sizeof(*w));
	size_t len = strlen(store_path) + sizeof(".workers");

	w->path = xmalloc(len);
	snprintf(w->path, len, "%s.workers", store_path);
	w->fd = -1;
	return w;
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
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

/*
 * Write the record whole, in place: one pwrite() at offset 0 of the lines,
 * padded with newlines to the longest record written, so that no tail of
 * an older, longer one is left to read as a line (a rename over the file
 * made ext4 start writeback each time: 0.3 ms a spawn on the loop).  A
 * write this small lands whole or not at all should the daemon die, and
 * a power loss ends the workers it lists.  An empty record truncates the
 * file.  0 or -errno.
 */
static int
save(struct workers *w)
{
	struct stat sb;
	char *buf = NULL;
	size_t len = 0, cap = 0, i;
	ssize_t wr;
	int r = 0, n;

	if (w->fd < 0) {
		w->fd = open(w->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
		/* Ours alone, whoever made it (0600 even if it was not). */
		if (w->fd < 0 || fchmod(w->fd, 0600) < 0) {
			r = -errno;
			if (w->fd >= 0)
				close(w->fd);
			w->fd = -1;
			goto out;
		}
		/* An older record's length, for the padding; one larger
		 * than any of ours is no record of ours: emptied. */
		w->high = fstat(w->fd, &sb) == 0 && sb.st_size > 0
		    ? (size_t)sb.st_size
		    : 0;
		if (w->high > RECORD_MAX && ftruncate(w->fd, 0) == 0)
			w->high = 0;
	}
	if (w->n == 0) {
		if (ftruncate(w->fd, 0) < 0)
			r = -errno;
		else
			w->high = 0;
		goto out;
	}
	cap = w->n * 44 + 1;
	if (cap < w->high + 1)
		cap = w->high + 1;
	buf = xmalloc(cap);
	for (i = 0; i < w->n; i++) {
		n = snprintf(buf + len, cap - len, "%d %" PRIu64 "\n",
		    w->v[i].pid, w->v[i].start);
		len += (size_t)n;
	}
	if (len < w->high) {
		memset(buf + len, '\n', w->high - len);
		len = w->high;
	}
	wr = pwrite(w->fd, buf, len, 0);
	if (wr < 0)
		r = -errno;
	else if ((size_t)wr != len)
		r = -EIO;
	else
		w->high = len;
out:
	free(buf);
	if (r < 0)
		log_msg(LOG_ERR, MSG_STORE, "%s: %s", w->path, strerror(-r));
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
