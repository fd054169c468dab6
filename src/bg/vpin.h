/*
 * bg/vpin.h — read pins for a whole object version: its blob, or every part's
 * blob (data_pin on each). GET, copy and scrub pin a version right after the
 * lookup that returned it, so GC (which defers pinned blobs) never deletes
 * bytes someone is still reading, however slow the reader.
 *
 * Layer: bg (joins meta's version records to data's pins). Thread rules: any
 * thread; pins are counted, so pin and unpin pair up per reader.
 */
#ifndef CAIRN_BG_VPIN_H
#define CAIRN_BG_VPIN_H

struct data_store;
struct meta_version;

/* Pins every blob of v. Returns 0, or CN_ENOMEM with nothing left pinned.
 * Borrows both. */
int version_pin(struct data_store *d, const struct meta_version *v);
/* Releases the pins version_pin took for the same v. */
void version_unpin(struct data_store *d, const struct meta_version *v);

#endif
