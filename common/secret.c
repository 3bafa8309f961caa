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
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secret.h"

struct secret {
	unsigned char *data; /* page-aligned, mapsize bytes mapped */
	size_t len;
	size_t mapsize;
	bool locked;
};

int
secret_new(const void *data, size_t len, struct secret **ret)
{
	struct secret *s = NULL;
	long page;
	int r;

	*ret = NULL;
	if (len > SECRET_MAX)
		return -EINVAL;
	page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->len = len;
	/* At least one page, so that an empty secret is still a mapping. */
	s->mapsize = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
	if (s->mapsize == 0)
		s->mapsize = (size_t)page;
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
	if (mlock(s->data, s->mapsize) == 0)
		s->locked = true;
	else if (errno != ENOMEM && errno != EPERM && errno != EAGAIN) {
		r = -errno;
		goto out;
	}
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
		if (s->locked)
			munlock(s->data, s->mapsize);
		munmap(s->data, s->mapsize);
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
