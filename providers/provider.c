/*
 * provider.c: the implementations rotad-worker has, by catalog name.  The
 * catalog and this table list the same providers; a descriptor with no
 * implementation here is answered fatal, as an unknown name is.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "provider.h"

static const struct provider *const providers[] = {
	&provider_postgresql,
	&provider_mysql,
	&provider_ssh,
	&provider_ldap,
	&provider_script,
	&provider_post_rotation,
#if ROTAD_TEST_HOOKS
	&provider_test,
#endif
	NULL,
};

const struct provider *
provider_find(const struct catalog_provider *desc)
{
	size_t i;

	for (i = 0; desc != NULL && providers[i] != NULL; i++)
		if (strcmp(providers[i]->name, desc->name) == 0)
			return providers[i];
	return NULL;
}

int
provider_fail(
    struct wire_response *res, enum wire_class class, const char *fmt, ...)
{
	va_list ap;

	res->class = class;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return -EIO;
}
