/*
 * test.c: the test provider, built only with -Dtest_hooks=true.
 *
 * It has no target.  Both operations obey the request's test_action:
 *
 *   (none)       succeed, changing nothing
 *   fail:CLASS   fail with that class (transient, auth, policy, fatal)
 *   sleep:N      sleep N seconds, then succeed (deadline tests)
 *   hang         sleep until killed
 *   leak         put every secret in the message and the facts, for the
 *                test that the worker scrubs them
 *   clock        succeed, saying in the facts when it ran
 *                ("clock=NS", CLOCK_MONOTONIC): bench/worker_start's
 *                measure of a worker's start, request read included
 *
 * and the sandbox probes, which try what the sandbox forbids and report
 * the errno in the facts ("probe=NAME", "result=EPERM"); a probe whose
 * forbidden action succeeded fails fatal, so a test cannot mistake a hole
 * for a pass:
 *
 *   exec     execve /bin/true
 *   write    create a new file under /tmp
 *   ptrace   PTRACE_TRACEME
 *   socket   socket(AF_INET) (this provider needs no network)
 *   fork-ns  unshare(CLONE_NEWUSER)
 *   dump     report dumpable, uid, and NoNewPrivs and Seccomp from
 *            /proc/self/status
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <time.h>

#include "provider.h"
#include "secret.h"

static const char *
errname(int e)
{
	const char *s = strerrorname_np(e);

	return s != NULL ? s : "E?";
}

/* Report a probe: R is the forbidden call's result, E its errno. */
static int
probe_result(struct wire_response *res, const char *name, int r, int e)
{
	if (r >= 0) {
		snprintf(res->facts, sizeof(res->facts),
		    "probe=%s\nresult=allowed\n", name);
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "sandbox probe %s: the forbidden action succeeded", name);
	}
	snprintf(res->facts, sizeof(res->facts), "probe=%s\nresult=%s\n", name,
	    errname(e));
	return 0;
}

static int
probe_exec(struct wire_response *res)
{
	char *const argv[] = { (char *)"true", NULL };
	char *const envp[] = { NULL };

	/* On success nothing comes back: the test sees no answer. */
	execve("/bin/true", argv, envp);
	return probe_result(res, "exec", -1, errno);
}

static int
probe_write(struct wire_response *res)
{
	char path[64];
	int fd, e;

	snprintf(path, sizeof(path), "/tmp/rotad-probe-%ld", (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	e = errno;
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	return probe_result(res, "write", fd, e);
}

static int
probe_ptrace(struct wire_response *res)
{
	long r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);

	return probe_result(res, "ptrace", (int)r, errno);
}

static int
probe_socket(struct wire_response *res)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e = errno;

	if (fd >= 0)
		close(fd);
	return probe_result(res, "socket", fd, e);
}

static int
probe_unshare(struct wire_response *res)
{
	int r = unshare(CLONE_NEWUSER);

	return probe_result(res, "fork-ns", r, errno);
}

/* Append the NoNewPrivs and Seccomp lines of /proc/self/status. */
static int
probe_dump(struct wire_response *res)
{
	char line[256], key[32];
	size_t len;
	FILE *f;
	int n, v;

	n = snprintf(res->facts, sizeof(res->facts), "dumpable=%d\nuid=%ld\n",
	    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), (long)getuid());
	len = (size_t)n;
	f = fopen("/proc/self/status", "re");
	if (f == NULL) {
		snprintf(res->facts + len, sizeof(res->facts) - len,
		    "status=%s\n", errname(errno));
		return 0;
	}
	/* "Seccomp:\t2" becomes the fact "Seccomp=2". */
	while (fgets(line, sizeof(line), f) != NULL && len < sizeof(res->facts))
		if (sscanf(line, "%31[^:]:%d", key, &v) == 2 &&
		    (strcmp(key, "NoNewPrivs") == 0 ||
			strcmp(key, "Seccomp") == 0))
			len += (size_t)snprintf(res->facts + len,
			    sizeof(res->facts) - len, "%s=%d\n", key, v);
	fclose(f);
	return 0;
}

static const struct {
	const char *name;
	enum wire_class class;
} classes[] = {
	{ "transient", WIRE_CLASS_TRANSIENT },
	{ "auth", WIRE_CLASS_AUTH },
	{ "policy", WIRE_CLASS_POLICY },
	{ "fatal", WIRE_CLASS_FATAL },
};

static int
act_fail(struct wire_response *res, const char *name)
{
	size_t i;

	/* The test provider keeps no target: a failure as told changed
	 * nothing, and says so.  (ROTAD_FAULT's "fault:fail" does not: it
	 * stands for a failure of unknown outcome.) */
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strcmp(name, classes[i].name) == 0) {
			res->untouched = true;
			return provider_fail(res, classes[i].class,
			    "test provider: failing as told (%s)", name);
		}
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "test provider: unknown class in fail:%s", name);
}

static int
act_sleep(struct wire_response *res, const char *arg)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < 0 || n > 86400)
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "test provider: bad sleep:%s", arg);
	/* sleep() returns early on a signal; finish the time. */
	for (unsigned left = (unsigned)n; left > 0;)
		left = sleep(left);
	return 0;
}

/* What no real provider may do; the worker must scrub it: every secret
 * of the request, new first, in the message and in the facts. */
static int
act_leak(const struct wire_request *req, struct wire_response *res)
{
	const struct secret *const all[] = { req->new_secret, req->current,
		req->admin, req->passphrase };
	char msg[sizeof(res->message)];
	size_t i, f = 0, m = 0;
	int n;

	msg[0] = '\0';
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (all[i] == NULL)
			continue;
		n = (int)secret_len(all[i]);
		if (f < sizeof(res->facts))
			f += (size_t)snprintf(res->facts + f,
			    sizeof(res->facts) - f, "leak%zu=%.*s\n", i, n,
			    (const char *)secret_data(all[i]));
		if (m < sizeof(msg))
			m += (size_t)snprintf(msg + m, sizeof(msg) - m, " %.*s",
			    n, (const char *)secret_data(all[i]));
	}
	return provider_fail(res, WIRE_CLASS_AUTH, "leaked:%s", msg);
}

/* CLOCK_MONOTONIC is one clock for every process of the host: the
 * bench compares this with the instant it decided to start the worker. */
static int
act_clock(struct wire_response *res)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(res->facts, sizeof(res->facts), "clock=%lld\n",
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return 0;
}

static int
run(const struct wire_request *req, struct wire_response *res)
{
	const char *a = req->test_action;

	if (a == NULL)
		return 0;
	if (strncmp(a, "fail:", 5) == 0)
		return act_fail(res, a + 5);
	if (strncmp(a, "sleep:", 6) == 0)
		return act_sleep(res, a + 6);
	if (strcmp(a, "hang") == 0)
		for (;;)
			sleep(3600);
	if (strcmp(a, "leak") == 0 && req->new_secret != NULL)
		return act_leak(req, res);
	if (strcmp(a, "clock") == 0)
		return act_clock(res);
	if (strcmp(a, "exec") == 0)
		return probe_exec(res);
	if (strcmp(a, "write") == 0)
		return probe_write(res);
	if (strcmp(a, "ptrace") == 0)
		return probe_ptrace(res);
	if (strcmp(a, "socket") == 0)
		return probe_socket(res);
	if (strcmp(a, "fork-ns") == 0)
		return probe_unshare(res);
	if (strcmp(a, "dump") == 0)
		return probe_dump(res);
	return provider_fail(
	    res, WIRE_CLASS_FATAL, "test provider: unknown action %s", a);
}

const struct provider provider_test = {
	.name = "test",
	.apply = run,
	.verify = run,
};
