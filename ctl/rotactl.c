/*
 * rotactl: command-line client of rotad.
 *
 * Each command is a small function behind one table.  All but `cron`
 * (an offline preview, ctl/cron.c) send one request over the control
 * socket (docs/control-protocol.md) and print the answer, as a table or
 * key: value lines for people, or as the bare result object with --json
 * for scripts.  Exit codes are part of the interface (rotactl(1), ctl.h).
 *
 * Strings that come from the daemon may hold what a target server said,
 * so control characters are escaped before they reach a terminal.
 * Secret values never touch argv: `secret set` reads stdin, and both
 * secret commands keep the value in a struct secret (locked, undumpable
 * pages) and wipe every buffer the base64 passed through.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "ctl.h"
#include "protocol.h"
#include "secret.h"

/* Answers have no protocol limit (metrics, long run lists); this one only
 * stops a broken daemon from eating the client's memory. */
#define RESPONSE_MAX (64 * 1024 * 1024)
#define COUNT_MAX PROTOCOL_COUNT_MAX
/* The most stdin may hold for `secret set`: what fits in one request line
 * as base64, leaving room for the rest of the request (call() checks the
 * exact length). */
#define VALUE_MAX ((PROTOCOL_LINE_MAX - 512) / 4 * 3)

enum {
	OPT_WAIT = 1 << 0,
	OPT_ALL = 1 << 1,
	OPT_COUNT = 1 << 2,
	OPT_EVENTS = 1 << 3, /* --follow, --since SEQ, --user USER */
};

struct ctl {
	const char *socket;
	bool json;
	bool wait;
	bool all;
	bool has_count;
	long count;
	bool follow;
	long long since; /* -1: not given */
	const char *user;
	int nargs; /* positional arguments after the command */
	char **args;
};

struct command {
	const char *name;
	const char *sub; /* "secret set": name "secret", sub "set" */
	int (*run)(const struct ctl *ctl);
	unsigned opts;
	int min_args, max_args;
	const char *synopsis;
};

static const struct command commands[];

/* ---- output ---- */

/*
 * Print S with control characters (and DEL) escaped, except those in
 * KEEP: a message relayed from a target must not be able to move the
 * cursor or retitle the terminal.
 */
static void
put_text(FILE *f, const char *s, const char *keep)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p < 0x20 || *p == 0x7f) && strchr(keep, *p) == NULL)
			fprintf(f, "\\x%02x", *p);
		else
			putc(*p, f);
	}
}

static void __attribute__((format(printf, 1, 2))) complain(const char *fmt, ...)
{
	va_list ap;

	fputs("rotactl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Terminal columns a UTF-8 string takes, near enough for alignment. */
static size_t
text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* V as text for a table cell or a value: malloc'd, escaped, "-" for null. */
static char *
value_text(const json_t *v)
{
	char *s = NULL, *out, *o;
	const unsigned char *p;
	size_t n;

	/* A field the daemon did not send (an older or newer daemon): shown
	 * as absent, not a crash. */
	if (v == NULL)
		return strdup("-");
	switch (json_typeof(v)) {
	case JSON_STRING:
		n = strlen(json_string_value(v));
		if (n == 0)
			return strdup("-");
		out = malloc(n * 4 + 1);
		if (out == NULL)
			return NULL;
		o = out;
		for (p = (const unsigned char *)json_string_value(v);
		     *p != '\0'; p++) {
			if (*p < 0x20 || *p == 0x7f)
				o += sprintf(o, "\\x%02x", *p);
			else
				*o++ = (char)*p;
		}
		*o = '\0';
		return out;
	case JSON_INTEGER:
		if (asprintf(
			&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
			return NULL;
		return s;
	case JSON_REAL:
		if (asprintf(&s, "%g", json_real_value(v)) < 0)
			return NULL;
		return s;
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_ARRAY:
	case JSON_OBJECT:
		s = json_dumps(v, JSON_COMPACT);
		if (s == NULL)
			return NULL;
		out = strdup(s);
		free(s);
		return out;
	case JSON_NULL:
	default:
		return strdup("-");
	}
}

/* A table of text cells, row 0 the header, printed with aligned columns. */
struct table {
	size_t ncols, nrows, cap;
	char **cells;
};

static int
table_add(struct table *t, char **row)
{
	char **v;
	size_t i;

	if (t->nrows == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		v = realloc(t->cells, t->cap * t->ncols * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		t->cells = v;
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = row[i];
	t->nrows++;
	return 0;
}

static void
table_print(const struct table *t)
{
	size_t w[16] = { 0 }, r, i, n;
	const char *s;

	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols && i < 16; i++) {
			n = text_width(t->cells[r * t->ncols + i]);
			if (n > w[i])
				w[i] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (i = 0; i < t->ncols; i++) {
			s = t->cells[r * t->ncols + i];
			fputs(s, stdout);
			/* The last column is not padded: no trailing blanks. */
			if (i + 1 < t->ncols)
				printf(
				    "%*s", (int)(w[i] - text_width(s) + 2), "");
		}
		putchar('\n');
	}
}

static void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/*
 * Print ROWS (an array of objects) under HEADS, one column per key in
 * KEYS.  CELL, when not NULL, may make a column's text itself (return
 * NULL to use the plain value).
 */
static int
print_rows(const json_t *rows, const char *const *heads,
    const char *const *keys, size_t ncols,
    char *(*cell)(const json_t *row, const char *key))
{
	struct table t = { .ncols = ncols };
	char *row[16];
	const json_t *obj;
	size_t i, k;
	int r = -ENOMEM;

	for (k = 0; k < ncols; k++)
		if ((row[k] = strdup(heads[k])) == NULL)
			goto fail;
	if (table_add(&t, row) < 0)
		goto fail;
	json_array_foreach(rows, i, obj)
	{
		for (k = 0; k < ncols; k++) {
			row[k] = cell != NULL ? cell(obj, keys[k]) : NULL;
			if (row[k] == NULL)
				row[k] =
				    value_text(json_object_get(obj, keys[k]));
			if (row[k] == NULL)
				goto fail;
		}
		if (table_add(&t, row) < 0)
			goto fail;
	}
	table_print(&t);
	table_free(&t);
	return 0;
fail:
	while (k-- > 0)
		free(row[k]);
	table_free(&t);
	return r;
}

/* Flatten OBJ into T as (name, value) rows; objects become "key.member". */
static void
fields_into(const json_t *obj, const char *prefix, struct table *t)
{
	const char *key;
	json_t *v;
	char *row[2];

	json_object_foreach((json_t *)obj, key, v)
	{
		if (asprintf(&row[0], "%s%s%s", prefix, prefix[0] ? "." : "",
			key) < 0)
			continue;
		if (json_is_object(v)) {
			fields_into(v, row[0], t);
			free(row[0]);
			continue;
		}
		row[1] = value_text(v);
		if (row[1] == NULL || table_add(t, row) < 0) {
			free(row[0]);
			free(row[1]);
		}
	}
}

/*
 * Print OBJ as "key: value" lines, keys right-aligned as systemctl does:
 * the keys in ORDER first, then any others the daemon sent.
 */
static void
print_fields(const json_t *obj, const char *const *order)
{
	struct table t = { .ncols = 2 };
	json_t *copy, *v;
	size_t w = 0, i;

	copy = json_object();
	if (copy == NULL)
		return;
	for (; order != NULL && *order != NULL; order++)
		if ((v = json_object_get(obj, *order)) != NULL)
			json_object_set(copy, *order, v);
	json_object_update_missing(copy, (json_t *)obj);
	fields_into(copy, "", &t);
	json_decref(copy);
	for (i = 0; i < t.nrows; i++)
		if (text_width(t.cells[i * 2]) > w)
			w = text_width(t.cells[i * 2]);
	for (i = 0; i < t.nrows; i++)
		printf("%*s: %s\n", (int)w, t.cells[i * 2], t.cells[i * 2 + 1]);
	table_free(&t);
}

static int
print_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text == NULL)
		return CTL_EXIT_FAILED;
	printf("%s\n", text);
	free(text);
	return 0;
}

static void
format_duration(json_int_t s, char *buf, size_t size)
{
	size_t n = 0;

	if (s >= 86400)
		n += snprintf(
		    buf + n, size - n, "%" JSON_INTEGER_FORMAT "d ", s / 86400);
	if (s >= 3600)
		n += snprintf(buf + n, size - n, "%" JSON_INTEGER_FORMAT "h ",
		    s / 3600 % 24);
	if (s >= 60)
		n += snprintf(buf + n, size - n, "%" JSON_INTEGER_FORMAT "min ",
		    s / 60 % 60);
	snprintf(buf + n, size - n, "%" JSON_INTEGER_FORMAT "s", s % 60);
}

/* ---- the connection ---- */

struct conn {
	int fd;
	char *buf; /* received, not yet consumed; wiped as it goes */
	size_t len, cap;
};

static int
conn_open(struct conn *cn, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	cn->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		complain("socket path %s is too long", path);
		return CTL_EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cn->fd < 0) {
		complain("socket: %s", strerror(errno));
		return CTL_EXIT_UNREACHABLE;
	}
	do
		r = connect(cn->fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		complain("cannot connect to %s: %s%s", path, strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED
			? " (is rotad running? -s or $ROTAD_SOCKET name "
			  "another socket)"
			: errno == EACCES
			? " (only root and the socket's group "
			  "may connect)"
			: "");
		return CTL_EXIT_UNREACHABLE;
	}
	return 0;
}

static void
conn_close(struct conn *cn)
{
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
	protocol_free_wiped(cn->buf, cn->cap);
	cn->buf = NULL;
	cn->len = cn->cap = 0;
}

static int
conn_send(struct conn *cn, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		/* MSG_NOSIGNAL: a daemon that hangs up is an error to
		 * report, not a SIGPIPE. */
		w = send(cn->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Read until the buffer holds a whole line; its length ('\n' excluded)
 * into *ret_len.  -EPIPE when the daemon closed first, -E2BIG past
 * RESPONSE_MAX.
 */
static int
conn_read_line(struct conn *cn, size_t *ret_len)
{
	size_t scanned = 0, cap;
	char *nl, *buf;
	ssize_t n;

	for (;;) {
		nl = cn->len > scanned
		    ? memchr(cn->buf + scanned, '\n', cn->len - scanned)
		    : NULL;
		if (nl != NULL) {
			*ret_len = (size_t)(nl - cn->buf);
			return 0;
		}
		scanned = cn->len;
		if (cn->len == cn->cap) {
			if (cn->cap >= RESPONSE_MAX)
				return -E2BIG;
			/* By hand, not realloc(): no unwiped old copy. */
			cap = cn->cap == 0 ? 4096 : cn->cap * 2;
			buf = malloc(cap);
			if (buf == NULL)
				return -ENOMEM;
			if (cn->len > 0)
				memcpy(buf, cn->buf, cn->len);
			protocol_free_wiped(cn->buf, cn->cap);
			cn->buf = buf;
			cn->cap = cap;
		}
		n = recv(cn->fd, cn->buf + cn->len, cn->cap - cn->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -EPIPE;
		if (n < 0)
			return -errno;
		cn->len += (size_t)n;
	}
}

static void
conn_consume(struct conn *cn, size_t n)
{
	memmove(cn->buf, cn->buf + n, cn->len - n);
	explicit_bzero(cn->buf + cn->len - n, n);
	cn->len -= n;
}

typedef void progress_fn(const struct ctl *ctl, const json_t *progress);

static void
print_error(const json_t *err)
{
	const json_t *errors = json_object_get(err, "errors"), *e;
	size_t i;

	fputs("rotactl: ", stderr);
	put_text(
	    stderr, json_string_value(json_object_get(err, "message")), "");
	fputs(" (", stderr);
	put_text(stderr, json_string_value(json_object_get(err, "code")), "");
	fputs(")\n", stderr);
	json_array_foreach(errors, i, e)
	{
		if (!json_is_string(e))
			continue;
		fputs("  ", stderr);
		put_text(stderr, json_string_value(e), "");
		fputc('\n', stderr);
	}
}

/*
 * Send CMD with ARGS (stolen; NULL for none) and ID (borrowed; NULL for
 * none), hand progress lines to PROGRESS, and wait for the final answer.
 * Returns an exit code; with CTL_EXIT_OK, *ret_result is the result
 * (the caller decrefs).  Errors are reported here.
 */
static int
call(const struct ctl *ctl, const char *cmd, json_t *args, json_t *id,
    progress_fn *progress, json_t **ret_result)
{
	struct conn cn = { .fd = -1 };
	enum protocol_response kind;
	json_t *resp = NULL, *err;
	char *line = NULL;
	size_t len = 0, n = 0;
	int r, ret, sent;

	*ret_result = NULL;
	r = protocol_encode_request(cmd, args, id, &line, &len);
	if (r < 0) {
		complain("cannot build the request: %s", strerror(-r));
		return CTL_EXIT_FAILED;
	}
	if (len - 1 > PROTOCOL_LINE_MAX) {
		complain("the request is longer than the protocol's %d bytes",
		    PROTOCOL_LINE_MAX);
		ret = CTL_EXIT_USAGE;
		goto out;
	}
	ret = conn_open(&cn, ctl->socket);
	if (ret != 0)
		goto out;
	/* A daemon that refuses the connection (busy) may close it before
	 * the request is sent: its answer is still there to read. */
	sent = conn_send(&cn, line, len);
	for (;;) {
		r = conn_read_line(&cn, &n);
		if (r < 0 && sent < 0) {
			complain("cannot send to %s: %s", ctl->socket,
			    strerror(-sent));
			ret = CTL_EXIT_UNREACHABLE;
			goto out;
		}
		if (r == -EPIPE) {
			complain(
			    "rotad closed the connection before answering");
			ret = CTL_EXIT_UNREACHABLE;
			goto out;
		}
		if (r < 0) {
			complain(
			    "reading from %s: %s", ctl->socket, strerror(-r));
			ret = r == -E2BIG ? CTL_EXIT_FAILED
					  : CTL_EXIT_UNREACHABLE;
			goto out;
		}
		r = protocol_decode_response(cn.buf, n, &resp, &kind);
		conn_consume(&cn, n + 1);
		if (r < 0) {
			complain("rotad sent a line that is not a version %d "
				 "response",
			    PROTOCOL_VERSION);
			ret = CTL_EXIT_FAILED;
			goto out;
		}
		if (kind != PROTOCOL_RESPONSE_PROGRESS)
			break;
		if (progress != NULL)
			progress(ctl, json_object_get(resp, "progress"));
		json_decref(resp);
		resp = NULL;
	}
	if (kind == PROTOCOL_RESPONSE_OK) {
		*ret_result = json_incref(json_object_get(resp, "result"));
		ret = CTL_EXIT_OK;
		goto out;
	}
	err = json_object_get(resp, "error");
	print_error(err);
	ret = strcmp(json_string_value(json_object_get(err, "code")),
		  PROTOCOL_E_DENIED) == 0
	    ? CTL_EXIT_DENIED
	    : CTL_EXIT_FAILED;
out:
	json_decref(resp);
	conn_close(&cn);
	protocol_free_wiped(line, len);
	return ret;
}

/* A call whose arguments are just the user named on the command line. */
static json_t *
user_args(const struct ctl *ctl)
{
	return json_pack("{s:s}", "user", ctl->args[0]);
}

/* ---- commands ---- */

static int
cmd_status(const struct ctl *ctl)
{
	static const char *const order[] = { "health", "state", "reloading",
		"version", "pid", "uptime", "config", "generation", "users",
		"paused", "queued", "running", "max_workers", NULL };
	json_t *res, *up, *skipped, *e, *replaced;
	char buf[64];
	size_t i;
	int ret;

	ret = call(ctl, "status", NULL, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json) {
		ret = print_json(res);
		json_decref(res);
		return ret;
	}
	up = json_object_get(res, "uptime");
	if (json_is_integer(up)) {
		format_duration(json_integer_value(up), buf, sizeof(buf));
		json_object_set_new(res, "uptime", json_string(buf));
	}
	/* The files left out, one a line after the fields, each with its
	 * first error, and what to do about them. */
	skipped = json_incref(json_object_get(res, "skipped"));
	json_object_del(res, "skipped");
	replaced = json_incref(json_object_get(res, "replaced"));
	json_object_del(res, "replaced");
	print_fields(res, order);
	if (json_is_string(replaced)) {
		printf("\nrestart needed: the daemon runs ");
		put_text(stdout, json_string_value(replaced), "");
		printf(", replaced on disk since it started (an upgrade); its "
		       "workers already run the new code. systemctl restart "
		       "rotad\n");
	}
	json_decref(replaced);
	if (json_array_size(skipped) > 0)
		printf("\nskipped job files (rotad -n lists every error; fix "
		       "them, then rotactl reload):\n");
	json_array_foreach(skipped, i, e)
	{
		fputs("  ", stdout);
		put_text(stdout,
		    json_string_value(json_object_get(e, "error")) ?: "?", "");
		putchar('\n');
	}
	json_decref(skipped);
	json_decref(res);
	return ret;
}

/* The STATE column of `list`: what the user is doing now. */
static char *
list_cell(const json_t *row, const char *key)
{
	bool paused, running;

	if (strcmp(key, "") != 0)
		return NULL;
	paused = json_is_true(json_object_get(row, "paused"));
	running = json_is_true(json_object_get(row, "running"));
	return strdup(paused && running ? "paused,running"
		: paused                ? "paused"
		: running               ? "running"
					: "-");
}

static int
cmd_list(const struct ctl *ctl)
{
	static const char *const heads[] = { "USER", "RESOURCE", "SCHEDULE",
		"TZ", "NEXT", "LAST", "OUTCOME", "SECRET", "STATE" };
	static const char *const keys[] = { "name", "resource", "schedule",
		"tz", "next_fire", "last_fire", "last_outcome", "secret", "" };
	json_t *res, *users;
	int ret;

	ret = call(ctl, "list", NULL, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	users = json_object_get(res, "users");
	if (ctl->json)
		ret = print_json(res);
	else if (json_array_size(users) == 0)
		printf("(no users)\n");
	else if (print_rows(users, heads, keys, 9, list_cell) < 0)
		ret = CTL_EXIT_FAILED;
	json_decref(res);
	return ret;
}

/* After `show`'s fields: what the operator may need to do next. */
static void
show_notes(const json_t *u)
{
	const char *name = json_string_value(json_object_get(u, "name"));
	const char *key =
	    json_string_value(json_object_get(u, "key_credential"));

	if (name == NULL)
		return;
	if (json_is_false(json_object_get(u, "secret"))) {
		fputs("\nno secret yet: set one with rotactl secret set ",
		    stdout);
		put_text(stdout, name, "");
		putchar('\n');
	}
	if (key != NULL) {
		fputs("\nits SSH key is a credential of its own, with its own "
		      "secret and runs: rotactl show ",
		    stdout);
		put_text(stdout, key, "");
		putchar('\n');
	}
}

static int
cmd_show(const struct ctl *ctl)
{
	static const char *const order[] = { "name", "credential", "secret",
		"login", "resource", "configuration", "managed", "schedule",
		"tz", "next_fire", "last_fire", "last_outcome", "last_run",
		"last_success", "paused", "running", "key_credential", NULL };
	json_t *res;
	int ret;

	ret = call(ctl, "show", user_args(ctl), NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json) {
		ret = print_json(res);
	} else {
		print_fields(json_object_get(res, "user"), order);
		show_notes(json_object_get(res, "user"));
	}
	json_decref(res);
	return ret;
}

static int
cmd_next(const struct ctl *ctl)
{
	json_t *args, *res, *t;
	size_t i;
	int ret;

	args = user_args(ctl);
	if (args != NULL && ctl->has_count)
		json_object_set_new(args, "count", json_integer(ctl->count));
	ret = call(ctl, "next", args, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json) {
		ret = print_json(res);
	} else {
		fputs("User: ", stdout);
		put_text(stdout, ctl->args[0], "");
		fputs("\n  TZ: ", stdout);
		put_text(stdout,
		    json_string_value(json_object_get(res, "tz")) ?: "-", "");
		putchar('\n');
		json_array_foreach(json_object_get(res, "next"), i, t)
		{
			fputs("  ", stdout);
			put_text(stdout, json_string_value(t) ?: "?", "");
			putchar('\n');
		}
		if (i == 0)
			printf("  (never fires again)\n");
	}
	json_decref(res);
	return ret;
}

static const char *const run_order[] = { "id", "user", "kind", "state",
	"attempts", "error_class", "created", "updated", "message", NULL };

/*
 * A run's fields, then each post-rotation script it ran: path, outcome,
 * and its output (scrubbed by the worker) indented below.
 */
static void
print_run(const json_t *run)
{
	const json_t *scripts = json_object_get(run, "scripts"), *sc;
	json_t *copy = json_deep_copy(run);
	const char *out, *msg;
	size_t i;

	if (copy == NULL)
		return;
	json_object_del(copy, "scripts");
	print_fields(copy, run_order);
	json_decref(copy);
	json_array_foreach(scripts, i, sc)
	{
		printf("\nscript %" JSON_INTEGER_FORMAT ": ",
		    json_integer_value(json_object_get(sc, "seq")));
		put_text(stdout,
		    json_string_value(json_object_get(sc, "script")) ?: "?",
		    "");
		msg = json_string_value(json_object_get(sc, "message"));
		printf(" (%s",
		    json_is_true(json_object_get(sc, "ok")) ? "ok" : "failed");
		if (msg != NULL && msg[0] != '\0') {
			fputs(": ", stdout);
			put_text(stdout, msg, "");
		}
		printf(")\n");
		out = json_string_value(json_object_get(sc, "output"));
		if (out == NULL || out[0] == '\0')
			continue;
		fputs("  | ", stdout);
		for (; *out != '\0'; out++) {
			if (*out == '\n') {
				fputs(out[1] != '\0' ? "\n  | " : "", stdout);
				continue;
			}
			if (((unsigned char)*out < 0x20 && *out != '\t') ||
			    *out == 0x7f)
				putchar('?');
			else
				putchar(*out);
		}
		putchar('\n');
	}
}

static void
show_progress(const struct ctl *ctl, const json_t *p)
{
	const json_t *attempt = json_object_get(p, "attempt");
	const char *s;

	if (ctl->json) {
		print_json(p);
	} else {
		s = json_string_value(json_object_get(p, "state"));
		printf("%-11s", s != NULL ? s : "?");
		if (json_is_integer(attempt))
			printf(" attempt %" JSON_INTEGER_FORMAT,
			    json_integer_value(attempt));
		if (json_is_true(json_object_get(p, "coalesced")))
			printf(" (joined the run already under way)");
		s = json_string_value(json_object_get(p, "message"));
		if (s != NULL && s[0] != '\0') {
			fputs("  ", stdout);
			put_text(stdout, s, "");
		}
		s = json_string_value(json_object_get(p, "run"));
		if (s != NULL && attempt == NULL) {
			fputs(" run ", stdout);
			put_text(stdout, s, "");
		}
		putchar('\n');
	}
	/* Progress is for watching: show it as it happens. */
	fflush(stdout);
}

static int
trigger(const struct ctl *ctl, const char *cmd)
{
	json_t *args, *res, *run;
	const char *state;
	int ret;

	args = user_args(ctl);
	if (args != NULL && ctl->wait)
		json_object_set_new(args, "wait", json_true());
	ret =
	    call(ctl, cmd, args, NULL, ctl->wait ? show_progress : NULL, &res);
	if (ret != 0)
		return ret;
	run = json_object_get(res, "run");
	if (ctl->json)
		ret = print_json(res);
	else if (json_is_object(run))
		print_run(run);
	else {
		fputs("run ", stdout);
		put_text(stdout, json_string_value(run) ?: "?", "");
		printf(json_is_true(json_object_get(res, "coalesced"))
			? " (a run for this user was already under way)\n"
			: " queued\n");
	}
	/* A run we waited for that did not succeed fails the command. */
	state = json_string_value(json_object_get(run, "state"));
	if (ret == 0 && state != NULL &&
	    (strcmp(state, "failed") == 0 || strcmp(state, "out_of_sync") == 0))
		ret = CTL_EXIT_FAILED;
	json_decref(res);
	return ret;
}

static int
cmd_rotate(const struct ctl *ctl)
{
	return trigger(ctl, "rotate");
}

static int
cmd_verify(const struct ctl *ctl)
{
	return trigger(ctl, "verify");
}

/* One event as a line: seq, time, name, user, outcome, message. */
static void
print_event(const json_t *e)
{
	static const char *const keys[] = { "timestamp", "name", "user",
		"run_id", "outcome", "error_class", "message" };
	size_t i;
	const char *s;

	printf(
	    "%lld", (long long)json_integer_value(json_object_get(e, "seq")));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		s = json_string_value(json_object_get(e, keys[i]));
		if (s == NULL)
			continue;
		fputs("  ", stdout);
		put_text(stdout, s, "");
	}
	putchar('\n');
	fflush(stdout);
}

/* --follow: each event as it comes (a progress line). */
static void
show_event(const struct ctl *ctl, const json_t *p)
{
	json_t *e = json_object_get(p, "event");
	char *s;

	if (e == NULL)
		return;
	if (!ctl->json) {
		print_event(e);
		return;
	}
	s = json_dumps(e, JSON_COMPACT);
	if (s != NULL) {
		puts(s);
		fflush(stdout);
		free(s);
	}
}

static int
cmd_events(const struct ctl *ctl)
{
	json_t *args = json_object(), *res = NULL, *arr;
	size_t i;
	int ret;

	if (ctl->since >= 0)
		json_object_set_new(args, "since", json_integer(ctl->since));
	if (ctl->has_count)
		json_object_set_new(args, "limit", json_integer(ctl->count));
	if (ctl->user != NULL)
		json_object_set_new(args, "user", json_string(ctl->user));
	if (ctl->follow)
		json_object_set_new(args, "follow", json_true());
	/* --follow has no final answer: it prints until interrupted. */
	ret = call(
	    ctl, "events", args, NULL, ctl->follow ? show_event : NULL, &res);
	if (ret != 0)
		return ret;
	arr = json_object_get(res, "events");
	for (i = 0; i < json_array_size(arr); i++) {
		if (ctl->json) {
			char *s =
			    json_dumps(json_array_get(arr, i), JSON_COMPACT);

			if (s != NULL)
				puts(s);
			free(s);
		} else {
			print_event(json_array_get(arr, i));
		}
	}
	json_decref(res);
	return 0;
}

static int
cmd_runs(const struct ctl *ctl)
{
	static const char *const heads[] = { "ID", "USER", "KIND", "STATE",
		"TRIES", "ERROR", "UPDATED", "MESSAGE" };
	static const char *const keys[] = { "id", "user", "kind", "state",
		"attempts", "error_class", "updated", "message" };
	json_t *args, *res, *runs;
	int ret;

	args = json_object();
	if (args != NULL && ctl->nargs > 0)
		json_object_set_new(args, "user", json_string(ctl->args[0]));
	if (args != NULL && ctl->has_count)
		json_object_set_new(args, "limit", json_integer(ctl->count));
	ret = call(ctl, "runs", args, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	runs = json_object_get(res, "runs");
	if (ctl->json)
		ret = print_json(res);
	else if (json_array_size(runs) == 0)
		printf("(no runs)\n");
	else if (print_rows(runs, heads, keys, 8, NULL) < 0)
		ret = CTL_EXIT_FAILED;
	json_decref(res);
	return ret;
}

static int
cmd_run(const struct ctl *ctl)
{
	json_t *args, *res;
	int ret;

	args = json_pack("{s:s}", "run", ctl->args[0]);
	if (args == NULL) {
		complain("run id is not UTF-8");
		return CTL_EXIT_USAGE;
	}
	ret = call(ctl, "run", args, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json)
		ret = print_json(res);
	else
		print_run(json_object_get(res, "run"));
	json_decref(res);
	return ret;
}

static int
pause_resume(const struct ctl *ctl, const char *cmd, const char *done)
{
	json_t *args, *res, *name;
	size_t i;
	int ret;

	if (ctl->all == (ctl->nargs > 0)) {
		complain("%s: name one USER or give --all", cmd);
		return CTL_EXIT_USAGE;
	}
	args = ctl->all ? json_pack("{s:b}", "all", 1) : user_args(ctl);
	ret = call(ctl, cmd, args, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json) {
		ret = print_json(res);
	} else {
		printf("%s:", done);
		json_array_foreach(json_object_get(res, "users"), i, name)
		{
			putchar(' ');
			put_text(stdout, json_string_value(name) ?: "?", "");
		}
		printf(i == 0 ? " (no users)\n" : "\n");
	}
	json_decref(res);
	return ret;
}

static int
cmd_pause(const struct ctl *ctl)
{
	return pause_resume(ctl, "pause", "paused");
}

static int
cmd_resume(const struct ctl *ctl)
{
	return pause_resume(ctl, "resume", "resumed");
}

static int
cmd_reload(const struct ctl *ctl)
{
	json_t *res;
	int ret;

	ret = call(ctl, "reload", NULL, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json)
		ret = print_json(res);
	else
		printf("configuration loaded: generation %" JSON_INTEGER_FORMAT
		       "\n",
		    json_integer_value(json_object_get(res, "generation")));
	json_decref(res);
	return ret;
}

static int
cmd_metrics(const struct ctl *ctl)
{
	const char *text;
	json_t *res;
	int ret;

	ret = call(ctl, "metrics", NULL, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	text = json_string_value(json_object_get(res, "text"));
	if (ctl->json) {
		ret = print_json(res);
	} else if (text != NULL) {
		put_text(stdout, text, "\n\t");
		if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
			putchar('\n');
	}
	json_decref(res);
	return ret;
}

/* ---- secrets ---- */

static struct termios saved_tty;

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static void
restore_tty(int sig)
{
	tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * The value for `secret set`, from stdin: all of it from a pipe or file,
 * one line from a terminal (prompted, without echo).  One trailing
 * newline is not part of the value.  Returns an exit code.
 */
static int
read_value(struct secret **ret)
{
	struct secret *buf = NULL;
	struct termios quiet;
	bool tty = false;
	size_t n = 0;
	ssize_t r;
	char *p;
	int ret_code = CTL_EXIT_FAILED, e = 0;

	*ret = NULL;
	/* One byte more than fits, to tell "too long" from "just fits". */
	if (secret_new(NULL, VALUE_MAX + 2, &buf) < 0) {
		complain("out of memory");
		return CTL_EXIT_FAILED;
	}
	p = secret_buf(buf);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tty) == 0) {
		tty = true;
		fprintf(stderr, "Secret value: ");
		quiet = saved_tty;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		signal(SIGINT, restore_tty);
		signal(SIGTERM, restore_tty);
		signal(SIGHUP, restore_tty);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	while (n < VALUE_MAX + 2) {
		r = read(STDIN_FILENO, p + n, VALUE_MAX + 2 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : 0;
			break;
		}
		n += (size_t)r;
		if (tty && p[n - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		fputc('\n', stderr);
	}
	if (n < VALUE_MAX + 2 && e != 0) {
		complain("reading stdin: %s", strerror(e));
		goto out;
	}
	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > VALUE_MAX) {
		complain("secret set: the value is longer than %d bytes, the "
			 "most a request can carry",
		    VALUE_MAX);
		ret_code = CTL_EXIT_USAGE;
		goto out;
	}
	if (n == 0) {
		complain("secret set: the value on stdin is empty");
		ret_code = CTL_EXIT_USAGE;
		goto out;
	}
	if (secret_new(p, n, ret) < 0) {
		complain("out of memory");
		goto out;
	}
	ret_code = 0;
out:
	secret_free(buf);
	return ret_code;
}

static int
cmd_secret_set(const struct ctl *ctl)
{
	struct secret *value = NULL;
	json_t *args, *res;
	char *b64 = NULL;
	int ret;

	ret = read_value(&value);
	if (ret != 0)
		return ret;
	b64 = protocol_secret_encode(value);
	secret_free(value);
	if (b64 == NULL) {
		complain("out of memory");
		return CTL_EXIT_FAILED;
	}
	args = json_pack("{s:s, s:s}", "user", ctl->args[0], "value_b64", b64);
	protocol_free_wiped(b64, strlen(b64));
	ret = call(ctl, "secret_set", args, NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json)
		ret = print_json(res);
	else {
		fputs("secret of ", stdout);
		put_text(stdout, ctl->args[0], "");
		printf(" stored as version %" JSON_INTEGER_FORMAT "\n",
		    json_integer_value(json_object_get(res, "version")));
	}
	json_decref(res);
	return ret;
}

/*
 * Write N bytes at P to stdout with write(2), not stdio, whose buffer
 * would keep a copy of them: for a secret.  Whatever stdio holds goes
 * first, so the order of the output stays.  0, or an exit code after
 * saying why.
 */
static int
write_out(const char *p, size_t n)
{
	ssize_t w;

	if (fflush(stdout) != 0)
		return CTL_EXIT_FAILED;
	while (n > 0) {
		w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			complain("writing the value: %s", strerror(errno));
			return CTL_EXIT_FAILED;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* RES, which holds a secret, as print_json() prints it, through no
 * buffer that is not wiped: json_dumps()'s copy is ours to wipe. */
static int
print_json_secret(const json_t *res)
{
	char *text = json_dumps(res, JSON_COMPACT);
	size_t len;
	int ret;

	if (text == NULL)
		return CTL_EXIT_FAILED;
	len = strlen(text);
	ret = write_out(text, len);
	if (ret == 0)
		ret = write_out("\n", 1);
	protocol_free_wiped(text, len);
	return ret;
}

static int
cmd_secret_get(const struct ctl *ctl)
{
	struct secret *value = NULL;
	const char *b64;
	json_t *res;
	int ret;

	ret = call(ctl, "secret_get", user_args(ctl), NULL, NULL, &res);
	if (ret != 0)
		return ret;
	if (ctl->json) {
		ret = print_json_secret(res);
		goto out;
	}
	if (json_is_true(json_object_get(res, "out_of_sync")))
		complain("warning: %s is out of sync: the target may hold its "
			 "pending secret rather than this one (rotactl runs %s "
			 "says why)",
		    ctl->args[0], ctl->args[0]);
	b64 = json_string_value(json_object_get(res, "value_b64"));
	if (b64 == NULL || protocol_secret_decode(b64, &value) < 0) {
		complain("rotad sent no valid value_b64");
		ret = CTL_EXIT_FAILED;
		goto out;
	}
	ret = write_out(secret_data(value), secret_len(value));
out:
	secret_free(value);
	protocol_wipe_json(res);
	json_decref(res);
	return ret;
}

static int
cmd_secret_history(const struct ctl *ctl)
{
	static const char *const heads[] = { "VERSION", "STATE", "CREATED",
		"CHANGED", "RUN" };
	static const char *const keys[] = { "version", "state", "created",
		"changed", "run" };
	json_t *res, *versions;
	int ret;

	ret = call(ctl, "secret_history", user_args(ctl), NULL, NULL, &res);
	if (ret != 0)
		return ret;
	versions = json_object_get(res, "versions");
	if (ctl->json)
		ret = print_json(res);
	else if (json_array_size(versions) == 0)
		printf("(no versions)\n");
	else if (print_rows(versions, heads, keys, 5, NULL) < 0)
		ret = CTL_EXIT_FAILED;
	json_decref(res);
	return ret;
}

/* ---- command line ---- */

static const struct command commands[] = {
	{ "status", NULL, cmd_status, 0, 0, 0, "status" },
	{ "list", NULL, cmd_list, 0, 0, 0, "list" },
	{ "show", NULL, cmd_show, 0, 1, 1, "show USER" },
	{ "next", NULL, cmd_next, OPT_COUNT, 1, 1, "next USER [-n COUNT]" },
	{ "rotate", NULL, cmd_rotate, OPT_WAIT, 1, 1, "rotate USER [--wait]" },
	{ "verify", NULL, cmd_verify, OPT_WAIT, 1, 1, "verify USER [--wait]" },
	{ "runs", NULL, cmd_runs, OPT_COUNT, 0, 1, "runs [USER] [-n LIMIT]" },
	{ "events", NULL, cmd_events, OPT_EVENTS | OPT_COUNT, 0, 0,
	    "events [--follow] [--since SEQ] [--user USER] [-n LIMIT]" },
	{ "run", NULL, cmd_run, 0, 1, 1, "run RUNID" },
	{ "pause", NULL, cmd_pause, OPT_ALL, 0, 1, "pause USER | --all" },
	{ "resume", NULL, cmd_resume, OPT_ALL, 0, 1, "resume USER | --all" },
	{ "reload", NULL, cmd_reload, 0, 0, 0, "reload" },
	{ "secret", "set", cmd_secret_set, 0, 1, 1,
	    "secret set USER        (the value is read from stdin)" },
	{ "secret", "get", cmd_secret_get, 0, 1, 1, "secret get USER" },
	{ "secret", "history", cmd_secret_history, 0, 1, 1,
	    "secret history USER" },
	{ "metrics", NULL, cmd_metrics, 0, 0, 0, "metrics" },
	{ NULL, NULL, NULL, 0, 0, 0, NULL },
};

static void
usage(FILE *f)
{
	const struct command *c;

	fprintf(f,
	    "usage: rotactl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
	    "       rotactl -h | --version\n\ncommands:\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(f, "  %s\n", c->synopsis);
	fprintf(f,
	    "  cron EXPR [--tz ZONE] [--from ISO8601] [-n COUNT] [--json]\n"
	    "  cron --schedule JSON [--from ISO8601] [-n COUNT] [--json]\n"
	    "\n"
	    "The socket is -s SOCKET, else $ROTAD_SOCKET, else %s.\n"
	    "Exit status: 0 ok, 1 failed, 2 usage, 3 rotad unreachable, "
	    "4 denied.\n",
	    PROTOCOL_DEFAULT_SOCKET);
}

/*
 * The command's own options and arguments.  ARGV[0] is the command word
 * (the last one, for "secret set").  Returns 0 or an exit code.
 */
static int
parse_command(const struct command *cmd, int argc, char **argv, struct ctl *ctl)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	/* 0, not 1: glibc then starts afresh (permuting again). */
	optind = 0;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (!(cmd->opts & OPT_WAIT))
				goto bad;
			ctl->wait = true;
			break;
		case 'a':
			if (!(cmd->opts & OPT_ALL))
				goto bad;
			ctl->all = true;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 'n':
			if (!(cmd->opts & OPT_COUNT))
				goto bad;
			errno = 0;
			ctl->count = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    ctl->count < 1 || ctl->count > COUNT_MAX) {
				complain(
				    "-n: expected a count 1-%d", COUNT_MAX);
				return CTL_EXIT_USAGE;
			}
			ctl->has_count = true;
			break;
		case 'f':
			if (!(cmd->opts & OPT_EVENTS))
				goto bad;
			ctl->follow = true;
			break;
		case 's':
			if (!(cmd->opts & OPT_EVENTS))
				goto bad;
			errno = 0;
			ctl->since = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    ctl->since < 0) {
				complain(
				    "--since: expected an event seq, 0 up");
				return CTL_EXIT_USAGE;
			}
			break;
		case 'u':
			if (!(cmd->opts & OPT_EVENTS))
				goto bad;
			ctl->user = optarg;
			break;
		case 'h':
			printf("usage: rotactl %s\n", cmd->synopsis);
			return -1;
		default:
			goto bad;
		}
	}
	ctl->nargs = argc - optind;
	ctl->args = argv + optind;
	if (ctl->nargs < cmd->min_args || ctl->nargs > cmd->max_args)
		goto bad;
	/* JSON carries UTF-8 only: say so here rather than send a request
	 * that lost its arguments. */
	for (c = 0; c < ctl->nargs; c++) {
		json_t *s = json_string(ctl->args[c]);

		if (s == NULL) {
			complain("argument %d is not valid UTF-8", c + 1);
			return CTL_EXIT_USAGE;
		}
		json_decref(s);
	}
	return 0;
bad:
	fprintf(stderr, "usage: rotactl %s\n", cmd->synopsis);
	return CTL_EXIT_USAGE;
}

/* `cron` with the global --json passed on. */
static int
run_cron(int argc, char **argv, bool json)
{
	char **v;
	int r;

	if (!json)
		return cron_main(argc, argv);
	v = calloc((size_t)argc + 2, sizeof(*v));
	if (v == NULL)
		return CTL_EXIT_FAILED;
	memcpy(v, argv, (size_t)argc * sizeof(*v));
	v[argc] = (char *)"--json";
	r = cron_main(argc + 1, v);
	free(v);
	return r;
}

int
main(int argc, char **argv)
{
	const struct command *c;
	struct ctl ctl = { .since = -1 };
	const char *env;
	int i, r;

	/*
	 * Global options by hand: getopt here would leave glibc's state
	 * set for cron_main(), which restarts it with optind = 1 and would
	 * then stop at its first operand.
	 */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "-s") == 0 ||
		    strcmp(argv[i], "--socket") == 0) {
			if (++i == argc)
				goto usage;
			ctl.socket = argv[i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			ctl.socket = argv[i] + 9;
		} else if (strncmp(argv[i], "-s", 2) == 0) {
			ctl.socket = argv[i] + 2;
		} else if (strcmp(argv[i], "--json") == 0) {
			ctl.json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CTL_EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("rotactl %s\n", ROTAD_VERSION);
			return CTL_EXIT_OK;
		} else {
			fprintf(
			    stderr, "rotactl: unknown option '%s'\n", argv[i]);
			goto usage;
		}
	}
	if (i == argc)
		goto usage;
	if (strcmp(argv[i], "cron") == 0)
		return run_cron(argc - i, argv + i, ctl.json);

	for (c = commands; c->name != NULL; c++)
		if (strcmp(argv[i], c->name) == 0 &&
		    (c->sub == NULL ||
			(i + 1 < argc && strcmp(argv[i + 1], c->sub) == 0)))
			break;
	if (c->name == NULL && strcmp(argv[i], "secret") == 0) {
		fprintf(stderr,
		    "rotactl: secret: expected set, get or "
		    "history USER\n");
		return CTL_EXIT_USAGE;
	}
	if (c->name == NULL) {
		fprintf(stderr, "rotactl: unknown command '%s'\n", argv[i]);
		goto usage;
	}
	if (c->sub != NULL)
		i++;
	r = parse_command(c, argc - i, argv + i, &ctl);
	if (r != 0)
		return r < 0 ? CTL_EXIT_OK : r;

	if (ctl.socket == NULL) {
		env = getenv("ROTAD_SOCKET");
		ctl.socket = env != NULL && env[0] != '\0'
		    ? env
		    : PROTOCOL_DEFAULT_SOCKET;
	}
	/* Before any JSON exists: answers may carry a secret. */
	protocol_json_wipe_on_free();
	r = c->run(&ctl);
	if (fflush(stdout) != 0 && r == CTL_EXIT_OK)
		r = CTL_EXIT_FAILED;
	return r;
usage:
	usage(stderr);
	return CTL_EXIT_USAGE;
}
