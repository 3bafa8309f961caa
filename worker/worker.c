/*
 * rotad-worker: one provider operation, or one batch of them, in a
 * locked-down process.
 *
 *   rotad-worker --provider NAME [--user USER] [--parent PID]
 *       [--ca-file PATH] [--exec PATH]... [--read PATH]...
 *   rotad-worker --template --parent PID [--pool N]
 *   rotad-worker --help | --version
 *
 * The daemon starts one per step, or per batch of steps (below).  The
 * command line carries no secret, only what the sandbox must know before
 * the request is read: the provider (a catalog name: its catalog entry
 * shapes the profile), the service user, the CA file and, for scripts,
 * what may be executed and read.  The request arrives on fd 0 and its
 * response leaves on fd 1 (proto/wire.h); fd 2 is a log for diagnostics,
 * which never hold a secret.
 *
 * The order of main() is the point of the file: die with the daemon
 * (PR_SET_PDEATHSIG, SIGKILL, before anything else; then, once argv says
 * who the daemon is, leave at once if it has died already, since the
 * signal only covers a death after the prctl), parse argv, find the
 * provider's catalog entry and its implementation, lock down with the
 * entry's profile, and only then read and decode the request, check that
 * it is for this provider and CA file and that its parameters are the
 * entry's worker keys with values their checks accept, run it, scrub
 * what the provider says of every secret of the request, answer, wipe,
 * exit 0.
 * A worker that cannot answer exits non-zero and the daemon classes the
 * step transient; one that can answer but must not run answers fatal.
 *
 * A batch.  A provider whose catalog entry has CATALOG_CAP_BATCH takes
 * up to WIRE_BATCH_MAX requests for one resource on fd 0, one message
 * after the other, then end of file; any other provider takes one and
 * never reads a second.  Each request goes through the whole of the
 * above on its own (the checks against argv and the catalog, the run,
 * the scrub with its own secrets) and is answered at once, before the
 * next is read, so that a batch cut short by the deadline or a kill
 * still tells how the ones before it went.  A refusal (another
 * provider, another CA file, a parameter) is that request's fatal
 * answer; the others run.  After the last request the provider's
 * finish() ends what it kept for the batch (its admin session).  The
 * worker stops at end of file, after WIRE_BATCH_MAX (it reads no more),
 * or at a message it cannot read or decode: with nothing answered yet
 * that is EXIT_NO_REQUEST, as for a single request; after an answer,
 * EXIT_BATCH_CUT, and the daemon has no answer for the rest.
 *
 * Time.  The worker notes its start (provider_clock_start()) before it
 * reads anything, and the deadline of every request runs from there:
 * the daemon ends a batch's worker once the timeout has passed since it
 * started it, and counts on nothing of its applies landing after that
 * and a second.  So a request after the first is not started once more
 * than half of its timeout has passed (it is answered transient,
 * untouched: "not started: the batch ran out of time"): the other half
 * is what a login may take (the providers' connect timeouts) before its
 * statement, and providers bound their server-side work by what is left
 * since the worker's start (provider.h).
 *
 * Why die with the daemon: an orphan would go on with its step with no
 * deadline, and its apply could land after the daemon's next life has
 * recovered the run and dropped the secret it sets.  (The daemon's next
 * life also ends any worker of the previous one it finds: workers.h.)
 *
 * With --template the process is the daemon's worker template
 * (forkserver.h): it never reads a request, and main() goes on below only
 * in each of its forks, with the step's fds and arguments, as if exec'd
 * with them; its parent, the one whose death orphans it, is then the
 * template, which dies with the daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "forkserver.h"
#include "provider.h"
#include "registry.h"
#include "sandbox.h"
#include "scrub.h"
#include "secret.h"
#include "wire.h"

#define SYNOPSIS                                                               \
	"usage: rotad-worker --provider NAME [--user USER] [--parent PID]\n"   \
	"           [--ca-file PATH] [--exec PATH]... [--read PATH]...\n"      \
	"       rotad-worker --template --parent PID [--pool N]\n"             \
	"       rotad-worker --help | --version\n"

/* Exit statuses when an answer is missing. */
#define WORKER_NICE 10 /* setpriority(): below the daemon, see main() */
#define EXIT_NO_REQUEST 2 /* the request could not be read or decoded */
#define EXIT_NO_ANSWER 3  /* a response could not be written */
#define EXIT_ORPHAN 4     /* the daemon that started us is gone */
#define EXIT_BATCH_CUT 5  /* a request after an answer could not be read */

struct args {
	const char *provider;
	const char *user;
	const char *ca_file;
	long parent;       /* the daemon's pid, 0 when not given */
	const char **exec; /* NULL-terminated */
	const char **read;
	size_t nexec, nread;
};

/*
 * A sanitizer build: LeakSanitizer checks for leaks at exit by stopping
 * the process's threads with ptrace, which seccomp refuses here, and it
 * then fails the exit.  The worker's leaks are left to its code's unit
 * tests; nothing of this is in a release build.
 */
#if defined(__SANITIZE_ADDRESS__)
#define WORKER_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WORKER_LSAN 1
#endif
#endif
#ifdef WORKER_LSAN
int __lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return 1;
}
#endif

static void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One diagnostic line on fd 2.  Never given a secret. */
static void
logx(const char *fmt, ...)
{
	va_list ap;

	fputs("rotad-worker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Write RES to fd 1.  0, or a negative errno. */
static int
answer(const struct wire_response *res)
{
	struct wire_response fallback;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = wire_response_encode(res, &buf, &len)) < 0) {
		/* A provider's text the codec refuses (too long, a NUL):
		 * say so rather than leave the daemon guessing. */
		logx("cannot encode the response: %s", strerror(-r));
		memset(&fallback, 0, sizeof(fallback));
		fallback.class = WIRE_CLASS_FATAL;
		snprintf(fallback.message, sizeof(fallback.message),
		    "the provider's answer could not be encoded: %s",
		    strerror(-r));
		if ((r = wire_response_encode(&fallback, &buf, &len)) < 0)
			return r;
	}
	r = wire_write_fd(1, buf, len);
	if (r < 0)
		logx("cannot write the response: %s", strerror(-r));
	/* Scrubbed already, but it was a provider's text: leave no copy. */
	explicit_bzero(buf, len);
	free(buf);
	return r;
}

static int answer_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Answer fatal with a reason; the exit status of main(). */
static int
answer_fatal(const char *fmt, ...)
{
	struct wire_response res;
	va_list ap;

	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_FATAL;
	va_start(ap, fmt);
	vsnprintf(res.message, sizeof(res.message), fmt, ap);
	va_end(ap);
	logx("%s", res.message);
	return answer(&res) < 0 ? EXIT_NO_ANSWER : 0;
}

/* Parse argv into A (arrays sized by argc, so they cannot overflow).
 * 0, or -EINVAL with a reason in WHY. */
static int
parse_args(int argc, char **argv, struct args *a, char *why, size_t size)
{
	static const struct option opts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "parent", required_argument, NULL, 'P' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "exec", required_argument, NULL, 'x' },
		{ "read", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	a->exec = calloc((size_t)argc + 1, sizeof(*a->exec));
	a->read = calloc((size_t)argc + 1, sizeof(*a->read));
	if (a->exec == NULL || a->read == NULL) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->provider = optarg;
			break;
		case 'u':
			a->user = optarg;
			break;
		case 'P':
			errno = 0;
			a->parent = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    a->parent <= 0) {
				snprintf(why, size, "--parent: not a pid: %s",
				    optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			a->ca_file = optarg;
			break;
		case 'x':
			a->exec[a->nexec++] = optarg;
			break;
		case 'r':
			a->read[a->nread++] = optarg;
			break;
		default:
			snprintf(why, size,
			    "usage: rotad-worker --provider NAME "
			    "[--user USER] [--parent PID] [--ca-file PATH] "
			    "[--exec PATH]... [--read PATH]...");
			return -EINVAL;
		}
	}
	if (optind != argc || a->provider == NULL) {
		snprintf(why, size, "usage: rotad-worker --provider NAME ...");
		return -EINVAL;
	}
	return 0;
}

/* The catalog profile's read paths and the --read ones, in one list. */
static const char **
read_paths(const struct catalog_provider *desc, const struct args *a)
{
	const char *const *extra = desc->sandbox.read_paths;
	const char **v;
	size_t n = 0, i;

	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		n++;
	v = calloc(n + a->nread + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = extra[i];
	for (i = 0; i < a->nread; i++)
		v[n + i] = a->read[i];
	return v;
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

#if ROTAD_TEST_HOOKS
/*
 * Fault injection for the crash test (test builds only), for any
 * provider: "fault:hang" never answers (the daemon's deadline ends it),
 * "fault:fail" fails transient and "fault:auth" as a refused login,
 * without touching the target.  Returns
 * true when REQ was such a fault and RES holds its answer.
 */
static bool
injected_fault(const struct wire_request *req, struct wire_response *res)
{
	if (req->test_action == NULL)
		return false;
	if (strcmp(req->test_action, "fault:hang") == 0) {
		/* sleep(), not pause(): every profile allows nanosleep. */
		for (;;)
			sleep(3600);
	}
	if (strcmp(req->test_action, "fault:fail") == 0) {
		provider_fail(res, WIRE_CLASS_TRANSIENT, "injected failure");
		return true;
	}
	if (strcmp(req->test_action, "fault:auth") == 0) {
		provider_fail(res, WIRE_CLASS_AUTH, "injected refusal");
		return true;
	}
	return false;
}
#else
static bool
injected_fault(const struct wire_request *req, struct wire_response *res)
{
	(void)req;
	(void)res;
	return false;
}
#endif

/*
 * Whether REQ's parameters are what DESC takes from the daemon: each one a
 * key of DESC flagged CATALOG_KEY_WORKER with a value catalog_check_value()
 * accepts, and every required worker key there (the wire has already
 * refused a key twice).  0, or -EINVAL with the reason in WHY.  Providers
 * then read their parameters without checking them again.
 */
static int
check_params(const struct catalog_provider *desc,
    const struct wire_request *req, char *why, size_t size)
{
	const struct catalog_key *k;
	char reason[256];
	size_t i;

	for (i = 0; i < req->nparams; i++) {
		k = catalog_key_find(desc, req->params[i].key);
		if (k == NULL || !(k->flags & CATALOG_KEY_WORKER)) {
			snprintf(why, size,
			    "parameter %s is not one provider %s takes",
			    req->params[i].key, desc->name);
			return -EINVAL;
		}
		if (catalog_check_value(
			k, req->params[i].value, reason, sizeof(reason)) < 0) {
			snprintf(
			    why, size, "parameter %s: %s", k->name, reason);
			return -EINVAL;
		}
	}
	for (k = desc->keys; k->name != NULL; k++)
		if ((k->flags & CATALOG_KEY_WORKER) &&
		    (k->flags & CATALOG_KEY_REQUIRED) &&
		    wire_param(req, k->name) == NULL) {
			snprintf(why, size,
			    "parameter %s is required by provider %s", k->name,
			    desc->name);
			return -EINVAL;
		}
	return 0;
}

/* Run REQ on P (DESC's implementation) into RES.  The result is always an
 * answer: a provider error is in RES, a refusal is fatal. */
static void
dispatch(const struct catalog_provider *desc, const struct provider *p,
    const struct wire_request *req, struct wire_response *res)
{
	int r;

	if (injected_fault(req, res))
		return;
	switch (req->op) {
	case WIRE_OP_APPLY:
		r = p->apply != NULL ? p->apply(req, res) : -EOPNOTSUPP;
		break;
	case WIRE_OP_VERIFY:
		r = p->verify != NULL ? p->verify(req, res) : -EOPNOTSUPP;
		break;
	case WIRE_OP_SCRIPT:
		/* Only a profile that may exec lets a script run: asking
		 * any other provider to run one is a daemon's mistake. */
		if (!(desc->sandbox.needs & CATALOG_NEEDS_EXEC) ||
		    p->apply == NULL) {
			provider_fail(res, WIRE_CLASS_FATAL,
			    "a script step needs a provider that runs scripts, "
			    "not %s",
			    desc->name);
			return;
		}
		r = p->apply(req, res);
		break;
	default:
		provider_fail(res, WIRE_CLASS_FATAL, "unknown operation");
		return;
	}
	if (r < 0 && res->class == WIRE_CLASS_NONE)
		provider_fail(res, WIRE_CLASS_FATAL, "%s %s failed: %s",
		    p->name, wire_op_name(req->op), strerror(-r));
}

/* Remove every secret of REQ from what RES says.  0 or -ENOMEM. */
static int
scrub_response(const struct wire_request *req, struct wire_response *res)
{
	struct secret *const secrets[] = { req->current, req->new_secret,
		req->admin, req->passphrase, req->script_input };
	const size_t n = sizeof(secrets) / sizeof(secrets[0]);
	char *out = NULL;
	size_t out_len = 0;
	int r;

	scrub_string(res->message, sizeof(res->message), secrets, n);
	scrub_string(res->facts, sizeof(res->facts), secrets, n);
	if (res->output == NULL)
		return 0;
	if ((r = scrub(
		 res->output, res->output_len, secrets, n, &out, &out_len)) < 0)
		return r;
	explicit_bzero(res->output, res->output_len);
	free(res->output);
	res->output = out;
	res->output_len = out_len;
	return 0;
}

/*
 * --help and --version, for a person at a terminal: only as the one
 * argument, so that no command line of the daemon's ever reaches them.
 * 1 when ARGV was one of them (and it was answered), else 0.
 */
static int
help_or_version(int argc, char **argv)
{
	if (argc != 2)
		return 0;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(SYNOPSIS
		    "\n"
		    "One provider step for rotad, in a locked-down process.  "
		    "Only the daemon\n"
		    "runs it: the request arrives on standard input and the "
		    "answer leaves on\n"
		    "standard output, both in rotad's wire format.  A "
		    "provider that takes\n"
		    "batches (postgresql, mysql) reads up to 64 requests "
		    "until end of file and\n"
		    "answers each, in order, as soon as it is done; a request "
		    "after the first\n"
		    "is not started once half its timeout has passed since "
		    "the worker started.\n"
		    "\n"
		    "  --provider NAME  the provider (a catalog name, as "
		    "`protocol:` names it)\n"
		    "  --user USER      the user to switch to "
		    "(default " SANDBOX_USER_DEFAULT ")\n"
		    "  --parent PID     the daemon: exit at once when it is "
		    "gone\n"
		    "  --ca-file PATH   the CA file TLS may read\n"
		    "  --exec PATH      a program a script step may execute\n"
		    "  --read PATH      a file a script step may read\n"
		    "  --template       be the daemon's worker template: "
		    "fork a worker\n"
		    "                   per step, with --parent and "
		    "--pool N\n"
		    "  -h, --help       this text\n"
		    "  --version        the version\n"
		    "\n"
		    "Exit status: 0 answered (every request read), 2 no "
		    "request read, 3 an\n"
		    "answer not written, 4 the daemon is gone, 5 a request "
		    "after an answer\n"
		    "could not be read (the answers before it stand).\n",
		    stdout);
		return 1;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("rotad-worker %s\n", ROTAD_VERSION);
		return 1;
	}
	return 0;
}

/* Say in the facts what the sandbox could not do. */
static void
note_sandbox(struct wire_response *res)
{
	size_t len = strlen(res->facts);

	if (sandbox_landlock_abi() == 0)
		snprintf(res->facts + len, sizeof(res->facts) - len,
		    "%slandlock=unavailable\n",
		    len > 0 && res->facts[len - 1] != '\n' ? "\n" : "");
}

/* Whether REQ is for this worker: its provider and CA file those of A's
 * command line, which shaped the sandbox.  0, or -EINVAL and WHY. */
static int
mismatch(const struct args *a, const struct wire_request *req, char *why,
    size_t size)
{
	if (!same_string(req->provider, a->provider)) {
		snprintf(why, size,
		    "request for provider %s sent to a %s worker",
		    req->provider != NULL ? req->provider : "(none)",
		    a->provider);
		return -EINVAL;
	}
	if (!same_string(req->tls_ca_file, a->ca_file)) {
		snprintf(why, size,
		    "request's CA file differs from the one the sandbox "
		    "allows");
		return -EINVAL;
	}
	return 0;
}

/*
 * Whether REQ, a request after the first, comes too late to start: more
 * than half of its timeout has passed since the worker started, and what
 * is left would not see it through before the daemon gives the worker up.
 * A request with no timeout has none of its own here.
 */
static bool
too_late(const struct wire_request *req)
{
	return req->timeout > 0 &&
	    provider_elapsed_ms() > (long long)req->timeout * 1000 / 2;
}

/*
 * Read the batch's request number NTH (from 0) and answer it: checked
 * against A and DESC, run on P unless it is refused or too late, its
 * answer scrubbed of its own secrets and written.  0 once answered;
 * -ENODATA when the input ended before it (the end of a batch, for
 * NTH > 0), -EBADMSG when it could not be read or decoded, -EIO when its
 * answer could not be written: the worker then stops.
 */
static int
serve_one(const struct catalog_provider *desc, const struct provider *p,
    const struct args *a, size_t nth)
{
	struct secret *raw = NULL;
	struct wire_request req;
	struct wire_response res;
	char why[512];
	int r;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	if ((r = wire_read_fd(0, &raw)) < 0) {
		if (r != -ENODATA || nth == 0)
			logx("cannot read request %zu: %s", nth + 1,
			    strerror(-r));
		r = r == -ENODATA && nth > 0 ? -ENODATA : -EBADMSG;
		goto out;
	}
	r = wire_request_decode(secret_data(raw), secret_len(raw), &req);
	secret_free(raw);
	raw = NULL;
	if (r < 0) {
		logx("cannot decode request %zu: %s", nth + 1, strerror(-r));
		r = -EBADMSG;
		goto out;
	}

	/* A refusal still goes through the scrubber below: a parameter's
	 * reason quotes its value. */
	if (mismatch(a, &req, why, sizeof(why)) < 0) {
		logx("%s", why);
		provider_fail(&res, WIRE_CLASS_FATAL, "%s", why);
	} else if (check_params(desc, &req, why, sizeof(why)) < 0)
		provider_fail(&res, WIRE_CLASS_FATAL, "%s", why);
	else if (nth > 0 && too_late(&req)) {
		/* Never sent: nothing of it can land. */
		provider_fail(&res, WIRE_CLASS_TRANSIENT,
		    "not started: the batch ran out of time (%lld ms of "
		    "%d s gone)",
		    provider_elapsed_ms(), req.timeout);
		res.untouched = true;
	} else
		dispatch(desc, p, &req, &res);
	if (scrub_response(&req, &res) < 0) {
		/* Unscrubbed text must not leave: answer without it. */
		wire_response_clear(&res);
		provider_fail(
		    &res, WIRE_CLASS_FATAL, "out of memory while scrubbing");
		logx("%s", res.message);
	}
	note_sandbox(&res);
	r = answer(&res) < 0 ? -EIO : 0;
out:
	wire_response_clear(&res);
	wire_request_clear(&req);
	secret_free(raw);
	return r;
}

int
main(int argc, char **argv)
{
	struct forkserver_child forked = { 0 };
	struct args a = { 0 };
	struct sandbox_profile prof;
	const struct catalog_provider *desc;
	const struct provider *p = NULL;
	const char **reads = NULL;
	char why[512];
	size_t nth, most;
	int r, status = 0;

	/* Die with the daemon, first of all (see the top).  The sandbox
	 * keeps the signal across its drop to the service user, which
	 * would clear it (sandbox.h). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* Below the daemon (the template's forks inherit it): on a busy
	 * machine the daemon's loop, which answers the control socket and
	 * takes fires, runs first; a worker mostly waits on its target. */
	(void)setpriority(PRIO_PROCESS, 0, WORKER_NICE);
	if (help_or_version(argc, argv))
		return fflush(stdout) == 0 ? 0 : 1;
	/* The template returns here only in a child, which runs the step
	 * its START gave it, as an exec'd worker with those arguments. */
	if (argc >= 2 && strcmp(argv[1], "--template") == 0) {
		if (forkserver_run(argc, argv, &forked, &status) == 0)
			return status;
		argc = forked.argc;
		argv = forked.argv;
	}
	/* The step's deadline runs from here (see the top): a fork of the
	 * template starts when its START comes. */
	provider_clock_start();

	/* argv, then the provider: nothing is read before the sandbox.
	 * Internal providers (post-rotation) are workers' names too. */
	if (parse_args(argc, argv, &a, why, sizeof(why)) < 0) {
		status = answer_fatal("%s", why);
		goto out;
	}
	/* A fork of the template: its parent is the template, and the
	 * daemon's death reaches it through the template's. */
	if (forked.parent != 0)
		a.parent = forked.parent;
	/* The daemon died before the prctl: nobody would read our answer,
	 * and nobody would bound our step. */
	if (a.parent != 0 && getppid() != (pid_t)a.parent) {
		logx("the daemon (pid %ld) is gone; exiting", a.parent);
		status = EXIT_ORPHAN;
		goto out;
	}
	if ((desc = catalog_find(a.provider)) == NULL ||
	    (p = registry_find(desc)) == NULL) {
		status = answer_fatal("unknown provider %s", a.provider);
		goto out;
	}
	if ((reads = read_paths(desc, &a)) == NULL) {
		status = answer_fatal("out of memory");
		goto out;
	}

	/* The profile is the catalog's, never the request's. */
	memset(&prof, 0, sizeof(prof));
	prof.needs = desc->sandbox.needs;
	prof.syscalls = desc->sandbox.syscalls;
	prof.read_paths = reads;
	prof.exec_paths = a.exec;
	prof.tls_ca_file = a.ca_file;
	prof.user = a.user;
	if ((r = sandbox_enter(&prof, why, sizeof(why))) < 0) {
		status = answer_fatal("sandbox: %s", why);
		goto out;
	}
	/* Again: the signal was off for a moment while the ids dropped. */
	if (a.parent != 0 && getppid() != (pid_t)a.parent) {
		logx("the daemon (pid %ld) is gone; exiting", a.parent);
		status = EXIT_ORPHAN;
		goto out;
	}

	/* Only now the requests: one, or a batch (see the top). */
	most = desc->caps & CATALOG_CAP_BATCH ? WIRE_BATCH_MAX : 1;
	for (nth = 0; nth < most; nth++) {
		if ((r = serve_one(desc, p, &a, nth)) == 0)
			continue;
		if (r == -EIO)
			status = EXIT_NO_ANSWER;
		else if (r == -EBADMSG)
			status = nth == 0 ? EXIT_NO_REQUEST : EXIT_BATCH_CUT;
		break;
	}
	if (p->finish != NULL)
		p->finish();
out:
	free(reads);
	free(a.exec);
	free(a.read);
	free(forked.argv);
	/* Not exit(): it would run every library's destructors, which a
	 * fork of the template pays for page by copied page (ld.so walks
	 * each library's fini; GnuTLS, linked for libldap, frees its ASN.1
	 * trees): a third of a MariaDB batch worker's page faults.  Nothing
	 * waits for them: the answers went out with write(2), finish()
	 * said goodbye to the server, and the memory, secrets included,
	 * goes with the process (no core: sandbox.h). */
	(void)fflush(NULL);
	_exit(status);
}
