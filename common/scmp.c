/*
 * scmp.c: the common start of rotad's seccomp filters (scmp.h).
 */
#include <stddef.h>

#include "scmp.h"

scmp_filter_ctx
scmp_new(uint32_t def)
{
	scmp_filter_ctx ctx = seccomp_init(def);

	if (ctx != NULL &&
	    seccomp_attr_set(
		ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		seccomp_release(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
scmp_add_names(scmp_filter_ctx ctx, uint32_t action, const char *const *names,
    const char **failed)
{
	int nr, r;

	for (; *names != NULL; names++) {
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		if ((r = seccomp_rule_add(ctx, action, nr, 0)) < 0) {
			*failed = *names;
			return r;
		}
	}
	return 0;
}
