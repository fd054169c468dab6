/*
 * cli/cli.h — `cairn admin ...` and `cairn restore`. Main thread only.
 */
#ifndef CAIRN_CLI_CLI_H
#define CAIRN_CLI_CLI_H

/* argv[0] is "admin". Returns the process exit status. */
int cli_admin(int argc, char **argv);
/* argv[0] is "restore" (restore.c): the offline metadata restore. Returns
 * the process exit status. */
int cli_restore(int argc, char **argv);

#endif
