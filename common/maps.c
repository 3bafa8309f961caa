/*
 * maps.c: reading a /proc/PID/maps line (maps.h).
 *
 * By hand rather than with sscanf(): the fields are hex numbers, a
 * permission word and decimal inode, and the path is the rest of the
 * line, spaces and all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps.h"

#define DELETED " (deleted)"
#define MEMFD "/memfd:"

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Past a run of at least one character that IS accepts, then one
 * SEP; NULL when there is no such run. */
static const char *
field(const char *p, bool (*is)(char), char sep)
{
	const char *start = p;

	while (is(*p))
		p++;
	if (p == start || *p != sep)
		return NULL;
	return p + 1;
}

static bool
is_perm(char c)
{
	return c == 'r' || c == 'w' || c == 'x' || c == 's' || c == 'p' ||
	    c == '-';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
maps_replaced(const char *line, char *path, size_t size)
{
	const char *p = line, *perms, *inode, *end;
	size_t len, n, sfx = sizeof(DELETED) - 1;
	bool exec;

	if (size == 0)
		return 0;
	/* START-END PERMS OFFSET MAJ:MIN INODE */
	if ((p = field(p, is_hex, '-')) == NULL ||
	    (p = field(p, is_hex, ' ')) == NULL)
		return 0;
	perms = p;
	if ((p = field(p, is_perm, ' ')) == NULL || p - perms != 5)
		return 0;
	exec = memchr(perms, 'x', 4) != NULL;
	if ((p = field(p, is_hex, ' ')) == NULL ||
	    (p = field(p, is_hex, ':')) == NULL ||
	    (p = field(p, is_hex, ' ')) == NULL)
		return 0;
	inode = p;
	if ((p = field(p, is_digit, ' ')) == NULL || !exec ||
	    (p - inode == 2 && *inode == '0'))
		return 0;
	/* The path, after the spaces that align it. */
	while (*p == ' ')
		p++;
	len = strcspn(p, "\n");
	end = p + len;
	if (*p != '/' || len <= sfx || memcmp(end - sfx, DELETED, sfx) != 0 ||
	    strncmp(p, MEMFD, sizeof(MEMFD) - 1) == 0)
		return 0;
	n = len - sfx;
	if (n > size - 1)
		n = size - 1;
	memcpy(path, p, n);
	path[n] = '\0';
	return 1;
}

/*
 * Over a descriptor of our own, so that a process whose filter allows
 * no open() (rotad-siem) reads its maps again and again: a seq_file
 * read from offset 0 is made afresh.
 */
int
maps_fd_replaced(int fd, char *path, size_t size)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int dfd, found = 0;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return 0;
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return errno == ENOMEM || errno == EMFILE ? -ENOMEM : 0;
	if ((f = fdopen(dfd, "r")) == NULL) {
		close(dfd);
		return -ENOMEM;
	}
	errno = 0;
	while (found == 0 && getline(&line, &cap, f) > 0)
		found = maps_replaced(line, path, size);
	if (found == 0 && errno == ENOMEM)
		found = -ENOMEM;
	free(line);
	fclose(f);
	return found;
}

int
maps_self_replaced(char *path, size_t size)
{
	int fd, found;

	if ((fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOMEM ? -ENOMEM : 0;
	found = maps_fd_replaced(fd, path, size);
	close(fd);
	return found;
}
