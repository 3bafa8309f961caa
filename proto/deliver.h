/*
 * deliver: the daemon <-> rotad-deliver protocol, over one Unix stream
 * socket (the delivery process's fd 0).
 *
 * rotad-deliver is the process that speaks to the network for the event
 * sinks (remote syslog over UDP, TCP and TLS; HTTP(S) POST), so that the
 * privileged daemon, which holds the store and the master key, never
 * becomes a network client.  The split: the daemon decides *what* goes
 * (the spool, each sink's cursor and filter, the formatting); the delivery
 * process decides only *how* (connecting, TLS, framing, HTTP) and answers
 * how far each batch got.  It holds no store, no key, no configuration
 * file: everything it knows comes in these messages.
 *
 *   daemon -> deliver   SINK    open a sink, or replace one of that name
 *                       DROP    close a sink
 *                       BATCH   frames (formatted events) for one sink,
 *                               in order, under a token
 *   deliver -> daemon   RESULT  how many of a batch's frames were
 *                               delivered, from its first, in order
 *
 * The daemon has at most one batch in flight per sink and gets exactly
 * one RESULT for it (a batch for a sink that is replaced or dropped
 * meanwhile still gets its RESULT; the daemon ignores a token it no
 * longer waits for).  "Delivered" is, by kind: UDP, handed to the kernel
 * (best effort: a datagram may be lost); TCP and TLS, written to the
 * connection (RFC 6587 octet counting, "LEN SP MSG"; TLS per RFC 5425);
 * HTTP, answered with a 2xx.
 *
 * Framing as wire.h: a message is a 4-byte big-endian length, then that
 * many bytes of fields, each a 1-byte tag, a 4-byte big-endian length and
 * the value.  The first field is the message's type.  Integers are 4-byte
 * big-endian, the token 8.  Strings hold no NUL.  Frames are bytes (the
 * one tag that may repeat, in order).  Anything else repeated, unknown,
 * over its bound, or a required field missing is refused with -EBADMSG.
 * The decoder is fuzzed (tests/fuzz/fuzz_deliver.c).
 *
 * libc and common/secret.c only.
 */
#ifndef ROTAD_DELIVER_H
#define ROTAD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret;

/* rotad-deliver's exit status when it ends because a file it runs code
 * of was replaced on disk (a library upgraded): with no batch in flight,
 * every RESULT written, for the daemon to start it afresh at the next
 * batch. */
#define DELIVER_EXIT_STALE 3

#define DELIVER_MAX (8 * 1024 * 1024) /* one message, either way */
#define DELIVER_BATCH_MAX 256         /* frames in a batch */
#define DELIVER_FRAME_MAX (64 * 1024) /* one formatted event */
#define DELIVER_NAME_MAX 64           /* a sink's name, [a-z0-9_-] */
#define DELIVER_HOST_MAX 255
#define DELIVER_URL_MAX 2048
#define DELIVER_PEM_MAX (64 * 1024) /* a CA bundle, a certificate, a key */
#define DELIVER_AUTH_MAX 4096       /* an Authorization header's value */
#define DELIVER_CONTENT_TYPE_MAX 255 /* a Content-Type header's value */
#define DELIVER_ERROR_MAX 512       /* RESULT's text */
#define DELIVER_TIMEOUT_MAX_MS 600000

enum deliver_type {
	DELIVER_SINK = 1,
	DELIVER_DROP,
	DELIVER_BATCH,
	DELIVER_RESULT,
	DELIVER__MAX,
};

enum deliver_kind {
	DELIVER_UDP = 1, /* host, port: one datagram per frame */
	DELIVER_TCP,     /* host, port: octet-counted frames */
	DELIVER_TLS,     /* host, port, server name verified: the same */
	DELIVER_HTTP,    /* url (http:// or https://): POST */
	DELIVER_KIND__MAX,
};

/* A frame of a batch: borrowed (the encoder's caller's, or the decoded
 * message's buffer, which must outlive it). */
struct deliver_frame {
	const uint8_t *data;
	size_t len; /* 1 to DELIVER_FRAME_MAX */
};

struct deliver_msg {
	enum deliver_type type;
	char *name; /* the sink's: every type */

	/* SINK */
	enum deliver_kind kind;
	char *host; /* UDP, TCP, TLS: a name or an address */
	int port;   /* UDP, TCP, TLS: 1 to 65535 */
	char *url;  /* HTTP */
	/* TLS and https://: the name the server's certificate must carry
	 * (NULL: the host, or the URL's); the CA bundle that must have
	 * signed it (PEM; NULL: the system's); a client certificate and its
	 * key (PEM; both or neither).  The peer is always verified. */
	char *server_name;
	char *ca_pem;
	char *cert_pem;
	struct secret *key_pem;
	/* HTTP: the Authorization header's whole value ("Splunk TOKEN",
	 * "Bearer TOKEN"), NULL for none; the Content-Type (NULL:
	 * application/json); whether a batch is one POST, its frames joined
	 * by '\n' (HEC, JSON lines), or one POST per frame (a chat webhook). */
	struct secret *auth;
	char *content_type;
	bool http_batch;
	uint32_t timeout_ms; /* connect, write, a request: 1 to
			      * DELIVER_TIMEOUT_MAX_MS */

	/* BATCH and RESULT */
	uint64_t token; /* the daemon's, echoed */
	struct deliver_frame *frames; /* BATCH: 1 to DELIVER_BATCH_MAX */
	size_t nframes;
	uint32_t done; /* RESULT: frames delivered, from the first, in order */
	char *error;   /* RESULT: why it stopped short; NULL when it did not */
};

/* Frees what a decoded message owns (secrets wiped) and zeroes it. */
void deliver_msg_clear(struct deliver_msg *m);

/*
 * M as one message, length prefix included.  A SINK message carries the
 * client key and the Authorization value, so it is built in a struct
 * secret (*RET_SECRET, the caller frees it); the others in malloc'ed
 * memory (*RET, *RET_LEN).  Pass the pointer the type needs and NULL for
 * the other.  0; -EINVAL (a field missing, out of range or over its
 * bound, or the wrong output for the type); -EMSGSIZE; -ENOMEM.
 */
int deliver_encode(const struct deliver_msg *m, struct secret **ret_secret,
    uint8_t **ret, size_t *ret_len);

/*
 * Decode one message (BUF, LEN: the bytes after the length prefix) into
 * *M, which the caller clears.  A BATCH's frames point into BUF.  0,
 * -EBADMSG or -ENOMEM; on error *M holds nothing.
 */
int deliver_decode(const void *buf, size_t len, struct deliver_msg *m);

/*
 * Of a stream's first HAVE bytes: 0 and the whole message's length
 * (prefix included) in *RET when a message is complete, -EAGAIN when
 * more bytes are needed, -EBADMSG when the prefix is over DELIVER_MAX or
 * under 1.
 */
int deliver_frame_len(const uint8_t *buf, size_t have, size_t *ret);

const char *deliver_kind_name(enum deliver_kind k); /* "udp", ... */

#endif
