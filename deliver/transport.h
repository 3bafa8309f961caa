/*
 * transport: how a sink's batches reach the network, one kind at a time.
 *
 * A transport is a const struct of functions (udp.c, stream.c for TCP and
 * TLS, http.c), found by the sink's kind with transport_for().  An
 * instance belongs to one sink and lives on the process's one libuv
 * loop.  The sink hands it one batch at a time; the instance delivers
 * the batch's frames in order and reports, exactly once per batch,
 * through its done callback: how many frames were delivered from the
 * first, and why it stopped short (NULL when it did not).  It may report
 * before send() returns (a configuration it refused, say).
 *
 * close() ends the instance: a batch in flight is reported before it
 * returns, with what was delivered so far and the reason given; every
 * handle is closed, and once the last one's close callback has run (so
 * never within close() itself), the closed callback is called and the
 * instance is freed.  The configuration (the
 * decoded SINK message) must outlive the instance.
 *
 * Transports log nothing: the sink's RESULTs carry their errors.
 */
#ifndef ROTAD_TRANSPORT_H
#define ROTAD_TRANSPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "deliver.h"

/* The longest error a transport reports, NUL included. */
#define TRANSPORT_ERROR_MAX 256

/* One batch: its frames copied out of the daemon's message. */
struct batch {
	struct batch *next; /* the sink's queue */
	uint64_t token;
	struct deliver_frame *frames;
	size_t nframes;
};

struct transport;

typedef void transport_done_cb(
    struct transport *t, uint32_t done, const char *error);
typedef void transport_closed_cb(struct transport *t);

/* What every instance starts with; the kinds add their own state. */
struct transport {
	const struct transport_ops *ops;
	uv_loop_t *loop;
	const struct deliver_msg *cfg;
	transport_done_cb *done;
	transport_closed_cb *closed;
	void *data; /* the sink's */
};

struct transport_ops {
	/* A new instance in *RET (its base filled in by the caller).  A
	 * configuration it cannot use (a CA bundle that does not parse)
	 * still makes one, which fails every batch with the reason.
	 * 0 or -ENOMEM. */
	int (*open)(uv_loop_t *loop, const struct deliver_msg *cfg,
	    struct transport **ret);
	/* Deliver B, which stays valid until it is reported. */
	void (*send)(struct transport *t, const struct batch *b);
	/* End the instance; WHY is the error of a batch in flight. */
	void (*close)(struct transport *t, const char *why);
};

/* Report the batch in flight through T's done callback: DONE frames, and
 * the error FMT formats (at most TRANSPORT_ERROR_MAX - 1 bytes), or none
 * when FMT is NULL.  The caller has forgotten the batch already: the
 * callback may hand it the next one. */
void transport_vreport(struct transport *t, uint32_t done, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/* The transport of KIND, NULL for none. */
const struct transport_ops *transport_for(enum deliver_kind kind);

/* HOST and PORT as "host:port", "[v6]:port" for an address with colons:
 * for errors. */
void transport_where(const struct deliver_msg *cfg, char *buf, size_t size);

extern const struct transport_ops transport_udp;
extern const struct transport_ops transport_stream; /* TCP and TLS */
extern const struct transport_ops transport_http;

#endif
