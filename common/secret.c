/*
 * secret.c: secrets in locked, undumpable, wiped pages.
 *
 * The bytes get a mapping of their own rather than a malloc() block, for
 * three reasons: mlock() and madvise() work on whole pages, so a shared
 * heap page would lock (and hide from core dumps) its neighbours too or,
 * worse, be unlocked by a neighbour's free; munmap() returns the pages to
 * the kernel, which zeroes them before any reuse; and a secret never moves,
 * so there is never a stale copy left behind by realloc().
 *
 * The small header (struct secret) is plain heap memory: it holds only the
 * length and the mapping, nothing worth hiding.
 *
 * A pool of pages.  A rotation makes and frees a few dozen small secrets
 * (the request, the passwords, a statement holding one), and each mapping
 * costs five system calls (mmap, madvise, mlock, munlock, munmap).  So a
 * freed one-page secret's page, wiped, still locked and out of core
 * dumps, is kept for the next secret of at most a page: at most POOL_MAX
 * pages, locked ones only (an unlocked page goes back to the kernel), and
 * only in the process that locked them — mlock() does not pass to a
 * fork's copy, so a forked process lets its parent's pool go at its first
 * secret, and a secret it inherited is unmapped, not pooled, when it frees
 * it.  One lock: secrets are made on libuv's pool threads too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secret.h"

#define POOL_MAX 32

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *pool[POOL_MAX];
static size_t npool;
static pid_t pool_pid; /* the process whose pages they are */

struct secret {
	unsigned char *data; /* page-aligned, mapsize bytes mapped */
	size_t len;
	size_t mapsize;
	bool locked;
	pid_t locker; /* the process that locked it (a fork's is not) */
};

static size_t
page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 ? (size_t)page : 4096;
}

/* Under pool_lock: forget a pool that is another process's (a fork's
 * copies of its parent's pages, wiped and no longer locked). */
static void
pool_own(void)
{
	pid_t self = getpid();

	if (pool_pid == self)
		return;
	while (npool > 0)
		munmap(pool[--npool], page_size());
	pool_pid = self;
}

/* A locked, undumpable, zeroed page from the pool into S, or false. */
static bool
pool_take(struct secret *s)
{
	bool took = false;

	pthread_mutex_lock(&pool_lock);
	pool_own();
	if (npool > 0) {
		s->data = pool[--npool];
		s->locked = true;
		s->locker = pool_pid;
		took = true;
	}
	pthread_mutex_unlock(&pool_lock);
	return took;
}

/* Keep S's page (wiped, and locked by this process) in the pool: false
 * when the pool is full or the page is not this process's to keep. */
static bool
pool_give(const struct secret *s)
{
	bool kept = false;

	pthread_mutex_lock(&pool_lock);
	pool_own();
	if (npool < POOL_MAX && s->locker == pool_pid) {
		pool[npool++] = s->data;
		kept = true;
	}
	pthread_mutex_unlock(&pool_lock);
	return kept;
}

int
secret_new(const void *data, size_t len, struct secret **ret)
{
	struct secret *s = NULL;
	size_t page = page_size();
	int r;

	*ret = NULL;
	if (len > SECRET_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->len = len;
	/* At least one page, so that an empty secret is still a mapping. */
	s->mapsize = (len + page - 1) / page * page;
	if (s->mapsize == 0)
		s->mapsize = page;
	if (s->mapsize == page && pool_take(s))
		goto fill;
	s->data = mmap(NULL, s->mapsize, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->data == MAP_FAILED) {
		s->data = NULL;
		r = -ENOMEM;
		goto out;
	}
	/*
	 * Keep the pages out of core dumps whatever the process's dump
	 * settings are.  Unlike mlock() this needs no privilege, so a
	 * failure is a real error.
	 */
	if (madvise(s->data, s->mapsize, MADV_DONTDUMP) < 0) {
		r = -errno;
		goto out;
	}
	/*
	 * Locking is best effort: an unprivileged process may only lock up
	 * to RLIMIT_MEMLOCK (EPERM when it is 0, ENOMEM or EAGAIN when it is
	 * spent).  The secret still works, it may merely reach swap, which
	 * an encrypted swap or none at all makes moot.
	 */
	if (mlock(s->data, s->mapsize) == 0) {
		s->locked = true;
		s->locker = getpid();
	}
	else if (errno != ENOMEM && errno != EPERM && errno != EAGAIN) {
		r = -errno;
		goto out;
	}
fill:
	if (data != NULL && len > 0)
		memcpy(s->data, data, len);
	*ret = s;
	s = NULL;
	r = 0;
out:
	secret_free(s);
	return r;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	if (s->data != NULL) {
		/* The whole mapping: a caller may have written past len
		 * through secret_buf() by mistake. */
		explicit_bzero(s->data, s->mapsize);
		if (s->locked && s->mapsize == page_size() && pool_give(s))
			s->data = NULL;
		else {
			if (s->locked)
				munlock(s->data, s->mapsize);
			munmap(s->data, s->mapsize);
		}
	}
	free(s);
}

const void *
secret_data(const struct secret *s)
{
	return s->data;
}

size_t
secret_len(const struct secret *s)
{
	return s->len;
}

void *
secret_buf(struct secret *s)
{
	return s->data;
}

bool
secret_equal(const struct secret *a, const struct secret *b)
{
	const volatile unsigned char *x = a->data, *y = b->data;
	unsigned char diff = 0;
	size_t i;

	if (a->len != b->len)
		return false;
	/* No early exit: the time must not tell where the first
	 * difference is. */
	for (i = 0; i < a->len; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

bool
secret_is_locked(const struct secret *s)
{
	return s->locked;
}

int
secret_cstring(const struct secret *s, struct secret **ret)
{
	struct secret *c = NULL;
	size_t len;
	int r;

	*ret = NULL;
	if (s == NULL || secret_len(s) == 0)
		return -EINVAL;
	len = secret_len(s);
	if (memchr(secret_data(s), '\0', len) != NULL)
		return -EINVAL;
	r = secret_new(NULL, len + 1, &c);
	if (r < 0)
		return r;
	memcpy(secret_buf(c), secret_data(s), len);
	((char *)secret_buf(c))[len] = '\0';
	*ret = c;
	return 0;
}
