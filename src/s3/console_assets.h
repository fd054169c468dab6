/*
 * s3/console_assets.h — the web console's files, compiled into the binary.
 * The table is generated at build time by tools/embed.c from console/
 * (BUILD/gen/console_assets.c); it is constant, so any thread may read it.
 */
#ifndef CAIRN_S3_CONSOLE_ASSETS_H
#define CAIRN_S3_CONSOLE_ASSETS_H

#include <stddef.h>

struct s3_console_asset {
	const char *name;	   /* base name, e.g. "app.js" */
	const char *ctype;	   /* Content-Type */
	const unsigned char *data; /* len bytes, then a NUL not counted */
	size_t len;
	const char *etag; /* strong, quoted: "<XXH3-128 hex>" */
};

extern const struct s3_console_asset s3_console_assets[];
extern const size_t s3_console_n_assets;

/* The asset called name (name_len bytes, no '/'), or NULL. */
const struct s3_console_asset *s3_console_asset_find(const char *name, size_t name_len);

#endif
