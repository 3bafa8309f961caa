/*
 * log.c: stderr or syslog, one line per message, escaped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static bool to_stderr = true;
static int threshold = LOG_INFO;
static bool held;
static char hbuf[64 * 1024];
static size_t hlen;

static void
flush_held(void)
{
	if (hlen > 0)
		fwrite(hbuf, 1, hlen, stderr);
	hlen = 0;
}

void
log_hold(bool hold)
{
	if (!hold)
		flush_held();
	held = hold;
}

void
log_open(bool foreground, int min_priority)
{
	to_stderr = foreground;
	threshold = min_priority;
	if (!foreground)
		openlog("rotad", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_close(void)
{
	if (!to_stderr)
		closelog();
}

/* Copy IN to OUT, escaping control characters and backslashes. */
static void
escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;

	for (; *in != '\0' && o + 5 < size; in++) {
		c = (unsigned char)*in;
		if (c < 0x20 || c == 0x7f || c == '\\') {
			out[o++] = '\\';
			if (c == '\\') {
				out[o++] = '\\';
				continue;
			}
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void
log_msg(int priority, const char *id, const char *fmt, ...)
{
	char raw[2048], safe[4096];
	va_list ap;

	if (priority > threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	escape(raw, safe, sizeof(safe));
	/* A warning or worse is written at once, after what was held: the
	 * next thing may be an exit. */
	if (to_stderr && held && priority <= LOG_WARNING)
		flush_held();
	if (to_stderr && held && priority > LOG_WARNING) {
		int n;

		if (hlen + sizeof(safe) + 64 > sizeof(hbuf))
			flush_held();
		n = snprintf(hbuf + hlen, sizeof(hbuf) - hlen, "<%d>%s %s\n",
		    priority, id, safe);
		if (n > 0 && (size_t)n < sizeof(hbuf) - hlen)
			hlen += (size_t)n;
	} else if (to_stderr)
		fprintf(stderr, "<%d>%s %s\n", priority, id, safe);
	else
		syslog(priority, "%s %s", id, safe);
}
