/*
 * sshkey-gen: common/sshkey.c from the command line, for
 * tests/integration/sshkey_interop.sh to hold against OpenSSH's own
 * ssh-keygen.  Built with the tests, never installed.
 *
 *   sshkey-gen TYPE OUTFILE [BITS]
 *	a new key of TYPE (an SSH name: ssh-rsa, ecdsa-sha2-nistp256, ...)
 *	into OUTFILE, mode 0600, and its public line into OUTFILE.pub;
 *	prints its fingerprint.
 *   sshkey-gen -i KEYFILE [PASSFILE]
 *	prints the public line of the private key in KEYFILE (its
 *	passphrase in PASSFILE), then its fingerprint.
 *   sshkey-gen -s HASHBITS KEYFILE DATAFILE SIGFILE [PASSFILE]
 *	signs DATAFILE with the RSA key in KEYFILE as rsa-sha2-HASHBITS
 *	(256, 512): the raw PKCS#1 v1.5 signature into SIGFILE, as
 *	`openssl dgst -sign` would write it.
 *
 * Exits 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "sshkey.h"

#define COMMENT "sshkey-gen@rotad"

static int
fail(const char *what, int r)
{
	fprintf(stderr, "sshkey-gen: %s: %s\n", what, strerror(-r));
	return 1;
}

/* The whole of file PATH in a new secret. */
static int
read_secret(const char *path, struct secret **ret)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((r = secret_new(NULL, (size_t)st.st_size, ret)) < 0) {
		close(fd);
		return r;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, (char *)secret_buf(*ret) + got,
		    (size_t)st.st_size - got);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			secret_free(*ret);
			*ret = NULL;
			close(fd);
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	return 0;
}

static int
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0 || write(fd, data, len) != (ssize_t)len)
		r = errno != 0 ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int
print_info(const struct sshkey_info *info, const char *comment, FILE *out)
{
	char line[4096], fp[SSHKEY_FINGERPRINT_SIZE];
	int r;

	if ((r = sshkey_public_line(info, comment, line, sizeof(line))) < 0)
		return fail("public line", r);
	if ((r = sshkey_fingerprint(
		 info->blob, info->bloblen, fp, sizeof(fp))) < 0)
		return fail("fingerprint", r);
	if (out != NULL)
		fprintf(out, "%s\n", line);
	printf("%s\n", fp);
	return 0;
}

static int
inspect(const char *keyfile, const char *passfile)
{
	struct secret *text = NULL, *pass = NULL;
	struct sshkey_info info;
	int r;

	if ((r = read_secret(keyfile, &text)) < 0)
		return fail(keyfile, r);
	if (passfile != NULL && (r = read_secret(passfile, &pass)) < 0) {
		secret_free(text);
		return fail(passfile, r);
	}
	r = sshkey_inspect(text, pass, &info);
	secret_free(text);
	secret_free(pass);
	if (r < 0)
		return fail(keyfile, r);
	r = print_info(&info, NULL, stdout);
	sshkey_info_clear(&info);
	return r;
}

static int
generate(const char *type, const char *out, int bits)
{
	char pubpath[4096], line[4096];
	struct secret *text = NULL;
	struct sshkey_info info;
	enum sshkey_type t;
	int r;

	if (sshkey_type_from_name(type, &t) < 0)
		return fail(type, -EINVAL);
	if ((size_t)snprintf(pubpath, sizeof(pubpath), "%s.pub", out) >=
	    sizeof(pubpath))
		return fail(out, -ENAMETOOLONG);
	if ((r = sshkey_generate(t, bits, COMMENT, &text)) < 0)
		return fail("generate", r);
	r = write_file(out, secret_data(text), secret_len(text), 0600);
	if (r < 0) {
		secret_free(text);
		return fail(out, r);
	}
	r = sshkey_inspect(text, NULL, &info);
	secret_free(text);
	if (r < 0)
		return fail("inspect", r);
	r = sshkey_public_line(&info, COMMENT, line, sizeof(line) - 1);
	if (r == 0) {
		strcat(line, "\n");
		r = write_file(pubpath, line, strlen(line), 0644);
	}
	if (r < 0) {
		sshkey_info_clear(&info);
		return fail(pubpath, r);
	}
	r = print_info(&info, NULL, NULL);
	sshkey_info_clear(&info);
	return r;
}

static int
sign(const char *bits, const char *keyfile, const char *datafile,
    const char *sigfile, const char *passfile)
{
	struct secret *text = NULL, *pass = NULL, *data = NULL;
	uint8_t *sig = NULL;
	size_t len = 0;
	int r;

	if ((r = read_secret(keyfile, &text)) < 0)
		return fail(keyfile, r);
	if ((r = read_secret(datafile, &data)) < 0 ||
	    (passfile != NULL && (r = read_secret(passfile, &pass)) < 0)) {
		secret_free(text);
		secret_free(data);
		return fail(data == NULL ? datafile : passfile, r);
	}
	r = sshkey_sign_rsa(text, pass, atoi(bits), secret_data(data),
	    secret_len(data), &sig, &len);
	secret_free(text);
	secret_free(pass);
	secret_free(data);
	if (r < 0)
		return fail("sign", r);
	r = write_file(sigfile, sig, len, 0644);
	free(sig);
	return r < 0 ? fail(sigfile, r) : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 6 && argc <= 7 && strcmp(argv[1], "-s") == 0)
		return sign(argv[2], argv[3], argv[4], argv[5],
		    argc == 7 ? argv[6] : NULL);
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "-i") == 0)
		return inspect(argv[2], argc == 4 ? argv[3] : NULL);
	if (argc >= 3 && argc <= 4 && argv[1][0] != '-')
		return generate(
		    argv[1], argv[2], argc == 4 ? atoi(argv[3]) : 0);
	fprintf(stderr,
	    "usage: sshkey-gen TYPE OUTFILE [BITS]\n"
	    "       sshkey-gen -i KEYFILE [PASSFILE]\n"
	    "       sshkey-gen -s HASHBITS KEYFILE DATAFILE SIGFILE "
	    "[PASSFILE]\n");
	return 1;
}
