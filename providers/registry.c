/*
 * registry.c: the implementations rotad-worker has, by catalog name.  The
 * catalog and this table list the same providers; a descriptor with no
 * implementation here is answered fatal, as an unknown name is.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

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

int
registry_warm(void)
{
	SSL_CTX *ctx;
	size_t i;
	int r = 0;

	/* No atexit cleanup: each fork would walk and free every cache
	 * the template filled, page by copied page, as it exits (about a
	 * millisecond a worker, TLS or not); its memory goes with it. */
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT,
		NULL) != 1 ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		r = -EIO;
	else
		SSL_CTX_free(ctx);
	ERR_clear_error();
	for (i = 0; providers[i] != NULL; i++)
		if (providers[i]->warm != NULL)
			providers[i]->warm();
	return r;
}
