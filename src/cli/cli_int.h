/*
 * cli/cli_int.h — private to src/cli: the admin API endpoint and the signed
 * request every `cairn admin` command sends. Main thread only.
 */
#ifndef CAIRN_CLI_CLI_INT_H
#define CAIRN_CLI_CLI_INT_H

#include <stddef.h>

struct endpoint {
	char host[256];
	char port[16];
	char hostport[300];
};

/* Connects to e and sends one request signed with the root credentials
 * (SigV4, "Connection: close"), body included. Borrows every argument.
 * Returns 0 and *fd_out (owned: the caller reads the answer and closes it),
 * or an error (nothing to close). */
int cli_request_send(const struct endpoint *e, const char *user, const char *pass,
		     const char *method, const char *path, const char *query, const char *body,
		     size_t body_len, int *fd_out);

/* `cairn admin backup DEST` (backup.c): streams the server's metadata
 * backup into DEST, verifying its checksum. Returns the exit status. */
int cli_backup(const struct endpoint *e, const char *user, const char *pass, const char *dest);

#endif
