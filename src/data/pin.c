/*
 * data/pin.c — read pins: the blobs some reader is about to read, which
 * blob_delete must leave alone (see data.h).
 *
 * Why: GC deletes a retired blob once its grace period is over. A GET of a
 * large multipart object may take longer than that, and it opens each part's
 * shards only when it reaches the part; without a pin, the later parts of an
 * object overwritten mid-GET are gone before the reader gets there.
 *
 * A chained hash of (blob id, count) under one mutex. Memory is bounded by
 * what concurrent readers pin (a multipart GET pins one id per part), never
 * by what is stored.
 */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "data/data_int.h"

#define PIN_BUCKETS 1024

struct pin {
	struct pin *next;
	uint8_t id[DATA_ID_LEN];
	uint32_t count;
};

static size_t slot(const uint8_t id[DATA_ID_LEN])
{
	/* ids are random: their first bytes are already a good hash */
	return ((size_t)id[0] | (size_t)id[1] << 8) % PIN_BUCKETS;
}

int pins_init(struct data_store *s)
{
	s->pins = calloc(PIN_BUCKETS, sizeof(*s->pins));
	if (!s->pins)
		return CN_ENOMEM;
	pthread_mutex_init(&s->pin_lock, NULL);
	return 0;
}

void pins_release(struct data_store *s)
{
	if (!s->pins)
		return;
	for (size_t i = 0; i < PIN_BUCKETS; i++) {
		struct pin *p = s->pins[i], *n;
		for (; p; p = n) {
			n = p->next;
			free(p);
		}
	}
	free(s->pins);
	s->pins = NULL;
	pthread_mutex_destroy(&s->pin_lock);
}

int data_pin(struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	struct pin **head = &s->pins[slot(id)], *p;
	int rc = 0;

	pthread_mutex_lock(&s->pin_lock);
	for (p = *head; p; p = p->next)
		if (memcmp(p->id, id, DATA_ID_LEN) == 0)
			break;
	if (p) {
		p->count++;
	} else if ((p = malloc(sizeof(*p))) != NULL) {
		memcpy(p->id, id, DATA_ID_LEN);
		p->count = 1;
		p->next = *head;
		*head = p;
	} else {
		rc = CN_ENOMEM;
	}
	pthread_mutex_unlock(&s->pin_lock);
	return rc;
}

void data_unpin(struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	struct pin **pp = &s->pins[slot(id)], *p;

	pthread_mutex_lock(&s->pin_lock);
	for (; (p = *pp) != NULL; pp = &p->next)
		if (memcmp(p->id, id, DATA_ID_LEN) == 0) {
			if (--p->count == 0) {
				*pp = p->next;
				free(p);
			}
			break;
		}
	pthread_mutex_unlock(&s->pin_lock);
}

int data_pinned(struct data_store *s, const uint8_t id[DATA_ID_LEN])
{
	struct pin *p;

	pthread_mutex_lock(&s->pin_lock);
	for (p = s->pins[slot(id)]; p; p = p->next)
		if (memcmp(p->id, id, DATA_ID_LEN) == 0)
			break;
	pthread_mutex_unlock(&s->pin_lock);
	return p != NULL;
}
