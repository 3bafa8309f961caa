/*
 * catalog: every provider this build contains, declared once, as data.
 *
 * A provider's identity (its name, the resource kinds it serves, the
 * protocols `protocol:` and port_map may name and their default ports, the
 * configuration keys it takes and how each is checked, what it can do,
 * what its verify proves, and what its sandbox must allow) is one const
 * descriptor in catalog.c.  jobs/ validates job files against it, the
 * daemon asks it about capabilities instead of comparing names, and the
 * worker takes its sandbox profile from it.  A provider that is not
 * implemented is not in the catalog: it arrives with its implementation.
 *
 * A leaf module: libc only.  Nothing here allocates or fails.
 */
#ifndef ROTAD_CATALOG_H
#define ROTAD_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Resource kinds a provider serves (a bit set, one bit per job kind, in
 * the order of jobs.h's enum job_kind). */
enum {
	CATALOG_KIND_MACHINE = 1 << 0,
	CATALOG_KIND_DATABASE = 1 << 1,
	CATALOG_KIND_DIRECTORY = 1 << 2,
	CATALOG_KIND_CLOUD = 1 << 3,
	CATALOG_KIND_API = 1 << 4,
	CATALOG_KIND_ANY = (1 << 5) - 1,
};

/* How a key's value is written and checked (catalog_check_value()). */
enum catalog_type {
	CATALOG_STRING,    /* non-empty, no control characters */
	CATALOG_INT,       /* a whole number in [min, max] */
	CATALOG_BOOL,      /* true or false */
	CATALOG_DURATION,  /* 30s, 15m, 1h30m, 2d or seconds; in [min, max] */
	CATALOG_ENUM,      /* one of choices */
	CATALOG_PATH,      /* an absolute path */
	CATALOG_HTTPS_URL, /* https://host... */
	CATALOG_SCRIPT,    /* a path, or {path, command}: the path is checked */
};

enum {
	/* A resource of this provider must give the key. */
	CATALOG_KEY_REQUIRED = 1 << 0,
	/* Sent to the worker as a parameter of the request. */
	CATALOG_KEY_WORKER = 1 << 1,
	/* One of a set: a resource gives exactly one of the provider's
	 * keys so flagged (ssh: known_hosts or host_key).  Never with
	 * REQUIRED. */
	CATALOG_KEY_ONE_OF = 1 << 2,
};

/* A configuration key a provider takes on its resources. */
struct catalog_key {
	const char *name;
	enum catalog_type type;
	unsigned flags;             /* CATALOG_KEY_* */
	int64_t min, max;           /* INT and DURATION (seconds) */
	const char *const *choices; /* ENUM: NULL-terminated */
	const char *doc;            /* one line, for people */
};

/* What a provider can do (a bit set). */
enum {
	/* A login can change its own secret with its current one. */
	CATALOG_CAP_SELF_CHANGE = 1 << 0,
	/* An admin credential can set another login's secret. */
	CATALOG_CAP_ADMIN_RESET = 1 << 1,
	/* It rotates key material (SSH keys), not only passwords. */
	CATALOG_CAP_KEY_MATERIAL = 1 << 2,
	/* The target holds two live credentials during a rotation. */
	CATALOG_CAP_SECOND_CREDENTIAL = 1 << 3,
	/* The old credential needs a cleanup step after the commit. */
	CATALOG_CAP_CLEANUP = 1 << 4,
	/* A resource needs no host. */
	CATALOG_CAP_NO_HOST = 1 << 5,
	/* Recovery can set a secret again without an admin credential. */
	CATALOG_CAP_RECONCILE_WITHOUT_ADMIN = 1 << 6,
	/* Apply and verify are scripts fed Keeper's input. */
	CATALOG_CAP_KEEPER_INPUT = 1 << 7,
	/* It talks to its target over TLS and honours the resource's tls:
	 * (verification against ca_file, else the system's CAs:
	 * CATALOG_SYSTEM_CA_FILE, or for mysql their hashed directory). */
	CATALOG_CAP_TLS = 1 << 8,
	/*
	 * One worker can take a batch of requests for one resource (up to
	 * WIRE_BATCH_MAX, in order, one answer each as it is done) and
	 * keeps one admin session for the batch's applies; each verify
	 * still logs in afresh.  The daemon groups a resource's runs into
	 * such batches (the resource's `batch:`).
	 */
	CATALOG_CAP_BATCH = 1 << 9,
};

/* The system's CA bundle (Debian's ca-certificates), which a provider
 * with CATALOG_CAP_TLS verifies its target against when the resource
 * names no ca_file; its sandbox must let it read it (read_paths). */
#define CATALOG_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

/* What a successful verify proves. */
enum catalog_verify {
	CATALOG_VERIFY_LOGIN,   /* a fresh login with the new secret works */
	CATALOG_VERIFY_SCRIPT,  /* the operator's verify script said so */
	CATALOG_VERIFY_NOTHING, /* there is nothing to log in to */
};

/* What the worker's sandbox must let the provider do. */
enum {
	CATALOG_NEEDS_NET = 1 << 0,  /* TCP/UDP over IPv4/IPv6, and DNS */
	CATALOG_NEEDS_UNIX = 1 << 1, /* AF_UNIX sockets */
	CATALOG_NEEDS_EXEC = 1 << 2, /* execve of the configured interpreter */
};

struct catalog_sandbox {
	unsigned needs;                /* CATALOG_NEEDS_* */
	const char *const *read_paths; /* extra read-only paths, or NULL */
	const char *const *syscalls;   /* extra syscalls by name, or NULL */
};

/* What `protocol:` and port_map values say, and its default port (0: the
 * protocol has none). */
struct catalog_protocol {
	const char *name;
	int port;
};

struct catalog_provider {
	const char *name;
	const char *summary;
	unsigned kinds; /* CATALOG_KIND_* */
	/* Terminated by an entry with a NULL name; none for an internal
	 * provider. */
	const struct catalog_protocol *protocols;
	/* The keys it takes besides the common resource keys, terminated
	 * by an entry with a NULL name, in the order -nv prints them. */
	const struct catalog_key *keys;
	unsigned caps; /* CATALOG_CAP_* */
	enum catalog_verify verify;
	struct catalog_sandbox sandbox;
	/* Run by the daemon for its own purposes (post-rotation scripts),
	 * not selectable with protocol:. */
	bool internal;
	/* When the resource sets this key to this value, its
	 * CATALOG_KEY_ONE_OF set is given none (ssh: host_key_policy: tofu
	 * learns the key instead of being told it).  NULL: no waiver. */
	const char *one_of_waiver_key;
	const char *one_of_waiver_value;
};

/* The store's name of the host key a resource learnt on first use (ssh's
 * host_key_policy: tofu): this prefix and the resource's name, a name no
 * user can have. */
#define CATALOG_TOFU_PREFIX "@host_key/"

/* The provider called NAME (internal ones included), or NULL. */
const struct catalog_provider *catalog_find(const char *name);

/*
 * The selectable provider that speaks PROTOCOL, or NULL; *ret_port (when
 * RET_PORT is not NULL) is the protocol's default port.
 */
const struct catalog_provider *catalog_find_protocol(
    const char *protocol, int *ret_port);

/* Every provider built in, internal ones included, NULL-terminated. */
const struct catalog_provider *const *catalog_list(void);

/* P's key called NAME, or NULL. */
const struct catalog_key *catalog_key_find(
    const struct catalog_provider *p, const char *name);

/*
 * Check one scalar VALUE for key K by its type (for a CATALOG_SCRIPT key,
 * the script's path).  0, or -EINVAL with the reason in WHY ("expected a
 * whole number 0-10, found 'x'"), which names neither the key nor the
 * file: the caller adds what it knows.  For jobs/ and for the worker,
 * which checks the parameters it is sent.
 */
int catalog_check_value(
    const struct catalog_key *k, const char *value, char *why, size_t size);

/*
 * A duration as job files write it: a number of seconds, or numbers with
 * units d, h, m, s in decreasing order ("90s", "1h30m", "2d"), each at
 * most 100000000.  0 with the seconds in *ret, or -EINVAL.  One syntax
 * for the settings jobs/ parses and the keys checked here.
 */
int catalog_parse_duration(const char *s, int64_t *ret);

#endif
