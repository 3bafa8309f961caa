/*
 * test_warm: the worker template's warm-up (providers/registry.h).  It
 * succeeds, leaves no OpenSSL error behind, and the forks made after it
 * draw random bytes none of the others draws: OpenSSL's generators were
 * seeded in the warmed process (an SSL_CTX draws its ticket keys), and
 * only its reseed in a process of another pid keeps two workers from
 * making the same password or key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "registry.h"

#define FORKS 4
#define DRAW 32

static void
test_warm_clean(void **state)
{
	(void)state;
	assert_int_equal(registry_warm(), 0);
	assert_int_equal(ERR_peek_error(), 0);
	/* Again, as a template that warmed and forked before would. */
	assert_int_equal(registry_warm(), 0);
}

/* In a fork: what RAND_bytes() and RAND_priv_bytes() give, on FD. */
static void
draw(int fd)
{
	unsigned char b[2 * DRAW];

	if (RAND_bytes(b, DRAW) != 1 || RAND_priv_bytes(b + DRAW, DRAW) != 1 ||
	    write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		_exit(1);
	_exit(0);
}

static void
test_forks_draw_apart(void **state)
{
	unsigned char got[FORKS + 1][2 * DRAW];
	int fd[2], st, i, j;
	pid_t pid;

	(void)state;
	assert_int_equal(registry_warm(), 0);
	for (i = 0; i < FORKS; i++) {
		assert_int_equal(pipe(fd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fd[0]);
			draw(fd[1]);
		}
		close(fd[1]);
		assert_int_equal(read(fd[0], got[i], sizeof(got[i])),
		    (ssize_t)sizeof(got[i]));
		close(fd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* And the warmed process itself, after its forks. */
	assert_int_equal(RAND_bytes(got[FORKS], DRAW), 1);
	assert_int_equal(RAND_priv_bytes(got[FORKS] + DRAW, DRAW), 1);
	for (i = 0; i <= FORKS; i++)
		for (j = 0; j < i; j++) {
			assert_memory_not_equal(got[i], got[j], DRAW);
			assert_memory_not_equal(
			    got[i] + DRAW, got[j] + DRAW, DRAW);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_warm_clean),
		cmocka_unit_test(test_forks_draw_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
