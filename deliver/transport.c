/*
 * transport.c: the registry of transports, and what they share.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "transport.h"

const struct transport_ops *
transport_for(enum deliver_kind kind)
{
	switch (kind) {
	case DELIVER_UDP:
		return &transport_udp;
	case DELIVER_TCP:
	case DELIVER_TLS:
		return &transport_stream;
	case DELIVER_HTTP:
		return &transport_http;
	default:
		return NULL;
	}
}

void
transport_vreport(
    struct transport *t, uint32_t done, const char *fmt, va_list ap)
{
	char error[TRANSPORT_ERROR_MAX];

	if (fmt != NULL)
		vsnprintf(error, sizeof(error), fmt, ap);
	t->done(t, done, fmt != NULL ? error : NULL);
}

void
transport_where(const struct deliver_msg *cfg, char *buf, size_t size)
{
	const char *host = cfg->host != NULL ? cfg->host : "?";

	if (strchr(host, ':') != NULL)
		snprintf(buf, size, "[%s]:%d", host, cfg->port);
	else
		snprintf(buf, size, "%s:%d", host, cfg->port);
}
