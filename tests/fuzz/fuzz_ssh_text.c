/*
 * libFuzzer target: what the ssh provider makes of a remote shell's
 * output (providers/ssh.c), text a target writes: which question passwd
 * asks (prompt_of(): the answer it gets is a secret, so the wrong one
 * would type the new password where the current one is asked), whether
 * the text is a policy's refusal or a shell that refuses commands, and
 * the last line quoted in an error (ssh_last_line(): one printable line
 * within its buffer).  The host is verified (its key) but not trusted
 * with the worker's memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oneline.h"
#include "../../providers/ssh.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ssh_key.c's entries, which ssh.c's dispatch names; never reached here. */
int
ssh_key_apply(const struct wire_request *req, struct wire_response *res)
{
	(void)req;
	(void)res;
	abort();
}

int
ssh_key_verify(const struct wire_request *req, struct wire_response *res)
{
	(void)req;
	(void)res;
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, line[48];
	size_t i, n;
	enum prompt p;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	/* A prompt is a line ending in ':' that names a password. */
	p = prompt_of(text);
	if (p != PROMPT_NONE) {
		n = strlen(text);
		while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
			n--;
		if (p > PROMPT_RETYPE || n == 0 || text[n - 1] != ':' ||
		    !ssh_has(text, "password"))
			abort();
	}
	(void)policy_refusal(text);

	/* Nothing but blanks, with exit 1: a shell that says nothing. */
	for (i = 0; text[i] != '\0' && isspace((unsigned char)text[i]); i++)
		;
	if (text[i] == '\0' && !ssh_shell_refuses(1, text))
		abort();
	if (ssh_shell_refuses(0, text))
		abort();

	memset(line, 'x', sizeof(line));
	ssh_last_line(text, line, sizeof(line));
	oneline_check(line, sizeof(line));
	free(text);
	return 0;
}
