/*
 * registry.c: the implementations rotad-worker has, by catalog name.  The
 * catalog and this table list the same providers; a descriptor with no
 * implementation here is answered fatal, as an unknown name is.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "provider.h"
#include "registry.h"

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
registry_find(const struct catalog_provider *desc)
{
	size_t i;

	for (i = 0; desc != NULL && providers[i] != NULL; i++)
		if (strcmp(providers[i]->name, desc->name) == 0)
			return providers[i];
	return NULL;
}
