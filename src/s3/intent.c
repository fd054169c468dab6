/*
 * s3/intent.c — a new blob's intent record, committed asynchronously, shared
 * by uploads (upload.c) and server-side copies (copy.c).
 *
 * Why: a blob's shards are renamed into place only after its intent is
 * durable, so a crash after the rename leaves an orphan the next start hands
 * to GC, never an untracked blob (DESIGN §1). A blob that will never be
 * committed has its intent turned into a gc entry at once (drop), rather
 * than at the next restart.
 *
 *   IDLE --s3_intent_add--> ADDING --cb--> ADDED --s3_intent_drop--> DROPPING --cb--> DROPPED
 *
 * Every callback runs on the request's loop; the intent lives in the
 * caller's per-request state (pool memory) until its callback has run.
 */
#include "s3/s3_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

static void intent_cb(struct meta_cmd *cmd, int rc, void *arg)
{
	struct s3_intent *in = (struct s3_intent *)((char *)cmd - offsetof(struct s3_intent, cmd));
	struct s3_req *r = arg;

	assert(in->state == S3_INTENT_ADDING || in->state == S3_INTENT_DROPPING);
	in->state = in->state == S3_INTENT_ADDING ? S3_INTENT_ADDED : S3_INTENT_DROPPED;
	in->done(r, in, rc);
}

int s3_intent_add(struct s3_req *r, struct s3_intent *in, const struct blob_layout *l,
		  s3_intent_fn done)
{
	int n = blob_layout_encode(l, in->layout, sizeof(in->layout));

	assert(in->state == S3_INTENT_IDLE);
	if (n < 0)
		return n;
	memset(&in->cmd, 0, sizeof(in->cmd));
	in->cmd.type = META_CMD_INTENT_ADD;
	in->cmd.now = cn_now_ns();
	memcpy(in->blob_id, l->id, META_ID_LEN);
	memcpy(in->cmd.blob_id, l->id, META_ID_LEN);
	in->cmd.layout = in->layout;
	in->cmd.layout_len = (size_t)n;
	in->done = done;
	in->state = S3_INTENT_ADDING;
	n = s3_meta_submit(r, &in->cmd, intent_cb, r);
	if (n)
		in->state = S3_INTENT_IDLE;
	return n;
}

int s3_intent_drop(struct s3_req *r, struct s3_intent *in, s3_intent_fn done)
{
	int rc;

	assert(in->state == S3_INTENT_ADDED);
	memset(&in->cmd, 0, sizeof(in->cmd));
	in->cmd.type = META_CMD_INTENT_DROP;
	in->cmd.now = cn_now_ns();
	memcpy(in->cmd.blob_id, in->blob_id, META_ID_LEN);
	in->done = done;
	in->state = S3_INTENT_DROPPING;
	rc = s3_meta_submit(r, &in->cmd, intent_cb, r);
	if (rc)
		in->state = S3_INTENT_ADDED;
	return rc;
}

static void drop_free(struct meta_cmd *cmd, int rc, void *arg)
{
	(void)rc, (void)arg;
	free(cmd);
}

void s3_blob_drop(struct s3_req *r, const uint8_t blob_id[META_ID_LEN])
{
	struct meta_cmd *c = calloc(1, sizeof(*c));

	if (!c) {
		log_warn("intent: out of memory dropping a blob; the next start collects it");
		return;
	}
	c->type = META_CMD_INTENT_DROP;
	c->now = cn_now_ns();
	memcpy(c->blob_id, blob_id, META_ID_LEN);
	/* The command owns itself: it outlives the request. */
	if (s3_meta_submit(r, c, drop_free, NULL)) {
		free(c);
		log_warn("intent: could not drop a blob's intent; the next start collects it");
	}
}
