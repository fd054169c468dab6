/*
 * bg/vpin.c — see vpin.h.
 */
#include "bg/vpin.h"

#include "core/err.h"
#include "data/data.h"
#include "meta/meta.h"

static void unpin_parts(struct data_store *d, const struct meta_version *v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		data_unpin(d, v->parts[i].blob_id);
}

int version_pin(struct data_store *d, const struct meta_version *v)
{
	if (v->loc == META_LOC_BLOB)
		return data_pin(d, v->blob_id);
	if (v->loc != META_LOC_PARTS)
		return 0;
	for (uint32_t i = 0; i < v->n_parts; i++)
		if (data_pin(d, v->parts[i].blob_id)) {
			unpin_parts(d, v, i);
			return CN_ENOMEM;
		}
	return 0;
}

void version_unpin(struct data_store *d, const struct meta_version *v)
{
	if (v->loc == META_LOC_BLOB)
		data_unpin(d, v->blob_id);
	else if (v->loc == META_LOC_PARTS)
		unpin_parts(d, v, v->n_parts);
}
