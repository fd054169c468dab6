/*
 * xml/xml.h — the streaming XML writer used for every S3 response body, and
 * a bounded reader (expat) that turns a small request body into a tree.
 *
 * Writer: appends to a struct cn_buf, escaping text; allocation failure is
 * sticky (w->err) and checked once at the end. Reader: depth, node count and
 * text size are bounded; entities/DTDs are refused (no billion laughs).
 *
 * Ownership: the writer owns its buffer (_init/_release); reader nodes live
 * in the caller's pool. Thread rules: one thread per object.
 */
#ifndef CAIRN_XML_XML_H
#define CAIRN_XML_XML_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/pool.h"

/* The writer appends to a struct cn_buf (core/buf.h). The wrappers below
 * are inline so that the length of a literal tag (every caller's) is a
 * compile-time constant: a listing page writes ~10,000 elements. */
/* `<?xml version="1.0" encoding="UTF-8"?>` */
void xmlw_decl(struct cn_buf *w);
/* `<tag>` (slash 0) or `</tag>` (slash 1), tag_len bytes of tag. */
static inline void xmlw_tag(struct cn_buf *w, const char *tag, size_t tag_len, int slash)
{
	char *d = cn_buf_grow(w, tag_len + 2 + (size_t) !!slash);

	if (!d)
		return;
	*d++ = '<';
	if (slash)
		*d++ = '/';
	memcpy(d, tag, tag_len);
	d[tag_len] = '>';
}
/* `<tag xmlns="ns">` */
void xmlw_open_ns(struct cn_buf *w, const char *tag, const char *ns);
/* Text, escaped: markup characters, quotes and control characters become
 * references. */
void xmlw_text(struct cn_buf *w, const char *text, size_t len);
void xmlw_elem_tn(struct cn_buf *w, const char *tag, size_t tag_len, const char *text, size_t len);
void xmlw_elem_u64_t(struct cn_buf *w, const char *tag, size_t tag_len, uint64_t v);
void xmlw_elem_time_t(struct cn_buf *w, const char *tag, size_t tag_len, uint64_t ns);

/* `<tag>`; with xmlns when ns is not NULL. */
static inline void xmlw_open(struct cn_buf *w, const char *tag, const char *ns)
{
	if (ns)
		xmlw_open_ns(w, tag, ns);
	else
		xmlw_tag(w, tag, strlen(tag), 0);
}

static inline void xmlw_close(struct cn_buf *w, const char *tag)
{
	xmlw_tag(w, tag, strlen(tag), 1);
}

/* `<tag>escaped text</tag>` */
static inline void xmlw_elem_n(struct cn_buf *w, const char *tag, const char *text, size_t len)
{
	xmlw_elem_tn(w, tag, strlen(tag), text, len);
}

/* NULL text writes an empty element. */
static inline void xmlw_elem(struct cn_buf *w, const char *tag, const char *text)
{
	xmlw_elem_tn(w, tag, strlen(tag), text ? text : "", text ? strlen(text) : 0);
}

static inline void xmlw_elem_u64(struct cn_buf *w, const char *tag, uint64_t v)
{
	xmlw_elem_u64_t(w, tag, strlen(tag), v);
}

/* ISO-8601 UTC with milliseconds, from nanoseconds since the epoch. */
static inline void xmlw_elem_time(struct cn_buf *w, const char *tag, uint64_t ns)
{
	xmlw_elem_time_t(w, tag, strlen(tag), ns);
}

/* Formats ns since the epoch as "2006-01-02T15:04:05.000Z" (25 bytes). */
void xml_time_iso(uint64_t ns, char out[32]);

struct xml_node {
	const char *name; /* local name, namespace stripped */
	char *text;	  /* concatenated character data, NUL-terminated */
	size_t text_len;
	int solid; /* the text holds more than XML whitespace */
	struct xml_node *parent, *child, *next;
};

/* Parses body into a tree in pool. Returns 0 or CN_EBADXML. Mixed content
 * (an element with both child elements and non-whitespace text) is
 * CN_EBADXML: no S3 body has it, and `<Key>a<x/>b</Key>` would otherwise
 * read as "ab", a value no byte-level check of the body would see. */
int xml_parse(struct cn_pool *pool, const char *body, size_t len, struct xml_node **root);
/* First child named `name`, or NULL. */
struct xml_node *xml_child(struct xml_node *n, const char *name);
/* Text of the first child named `name`, or NULL. */
const char *xml_child_text(struct xml_node *n, const char *name);

#endif
