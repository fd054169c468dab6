/*
 * xml/xml.c — see xml.h.
 */
#include "xml/xml.h"

#include <expat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/fmt.h"

#define XML_MAX_DEPTH 16
/* CompleteMultipartUpload: 10000 parts x (Part, PartNumber, ETag, checksums) */
#define XML_MAX_NODES 80000

static void raws(struct cn_buf *w, const char *s)
{
	cn_buf_puts(w, s);
}

void xmlw_decl(struct cn_buf *w)
{
	raws(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
}

void xmlw_open_ns(struct cn_buf *w, const char *tag, const char *ns)
{
	raws(w, "<");
	raws(w, tag);
	raws(w, " xmlns=\"");
	raws(w, ns);
	raws(w, "\">");
}

/* 1 for the bytes text never carries raw: markup and quotes, CR (a parser
 * would normalise it to LF) and the other controls but tab and LF. */
static const unsigned char xml_esc[256] = {
	[0x00 ... 0x08] = 1, [0x0b ... 0x1f] = 1, /* tab (0x09) and LF (0x0a) pass */
	['"'] = 1,	     ['&'] = 1,		  ['\''] = 1, ['<'] = 1, ['>'] = 1,
};

static void ref_out(struct cn_buf *w, unsigned char ch)
{
	char num[8];

	switch (ch) {
	case '&': raws(w, "&amp;"); return;
	case '<': raws(w, "&lt;"); return;
	case '>': raws(w, "&gt;"); return;
	case '"': raws(w, "&quot;"); return;
	case '\'': raws(w, "&apos;"); return;
	}
	/* a control character: &#N; (N < 32) */
	num[0] = '&';
	num[1] = '#';
	if (ch >= 10) {
		num[2] = (char)('0' + ch / 10);
		num[3] = (char)('0' + ch % 10);
		num[4] = ';';
		cn_buf_put(w, num, 5);
	} else {
		num[2] = (char)('0' + ch);
		num[3] = ';';
		cn_buf_put(w, num, 4);
	}
}

/* The index of the first byte at or after i that xml_esc marks, or len. */
static size_t next_esc(const unsigned char *u, size_t i, size_t len)
{
#ifdef __SSE2__
	/* sixteen bytes a step: a listing's keys and ETags are most of its
	 * document, and the byte loop was a fifth of a page's CPU */
	const __m128i lim = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8(0x09),
		      lf = _mm_set1_epi8(0x0a), q = _mm_set1_epi8('"'), amp = _mm_set1_epi8('&'),
		      ap = _mm_set1_epi8('\''), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');

	for (; i + 16 <= len; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
		/* unsigned x <= 0x1f, but tab and LF pass */
		__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(x, lim), x);
		ctl = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(x, tab), _mm_cmpeq_epi8(x, lf)),
				       ctl);
		__m128i m = _mm_or_si128(
			_mm_or_si128(ctl,
				     _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, amp))),
			_mm_or_si128(_mm_cmpeq_epi8(x, ap),
				     _mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, gt))));
		int bits = _mm_movemask_epi8(m);
		if (bits)
			return i + (size_t)__builtin_ctz((unsigned)bits);
	}
#endif
	for (; i < len; i++)
		if (xml_esc[u[i]])
			return i;
	return len;
}

void xmlw_text(struct cn_buf *w, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t start = 0, i;

	while ((i = next_esc(u, start, len)) < len) {
		cn_buf_put(w, s + start, i - start);
		ref_out(w, u[i]);
		start = i + 1;
	}
	cn_buf_put(w, s + start, len - start);
}

void xmlw_elem_tn(struct cn_buf *w, const char *tag, size_t tag_len, const char *text, size_t len)
{
	xmlw_tag(w, tag, tag_len, 0);
	xmlw_text(w, text, len);
	xmlw_tag(w, tag, tag_len, 1);
}

/* `<tag>s</tag>` for text this file wrote (digits and punctuation). */
static void elem_plain(struct cn_buf *w, const char *tag, size_t tag_len, const char *s, size_t len)
{
	xmlw_tag(w, tag, tag_len, 0);
	cn_buf_put(w, s, len);
	xmlw_tag(w, tag, tag_len, 1);
}

void xmlw_elem_u64_t(struct cn_buf *w, const char *tag, size_t tag_len, uint64_t v)
{
	char b[CN_FMT_U64_MAX];

	elem_plain(w, tag, tag_len, b, (size_t)(cn_fmt_u64(b, v) - b));
}

void xml_time_iso(uint64_t ns, char out[32])
{
	struct cn_utc t;
	char *d = out;

	/* a uint64_t of ns ends in 2554: four digits */
	cn_utc_of((int64_t)(ns / 1000000000u), &t);
	d = cn_fmt_dec(d, (uint64_t)t.year, 4);
	*d++ = '-';
	d = cn_fmt_dec(d, t.mon, 2);
	*d++ = '-';
	d = cn_fmt_dec(d, t.day, 2);
	*d++ = 'T';
	d = cn_fmt_dec(d, t.hour, 2);
	*d++ = ':';
	d = cn_fmt_dec(d, t.min, 2);
	*d++ = ':';
	d = cn_fmt_dec(d, t.sec, 2);
	*d++ = '.';
	d = cn_fmt_dec(d, ns / 1000000u % 1000u, 3);
	*d++ = 'Z';
	*d = 0;
}

void xmlw_elem_time_t(struct cn_buf *w, const char *tag, size_t tag_len, uint64_t ns)
{
	char b[32];

	xml_time_iso(ns, b);
	elem_plain(w, tag, tag_len, b, 24);
}

/* ---- reader ---- */

struct pstate {
	struct cn_pool *pool;
	XML_Parser p;
	struct xml_node *root, *cur, *last_child_of_cur;
	int depth;
	int nodes;
	int err;
	/* Text arrives in many pieces (every entity reference is one): the
	 * node being appended to keeps spare room, grown geometrically, so
	 * pool use stays linear in the text instead of quadratic. */
	struct xml_node *grow;
	size_t grow_cap;
};

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct pstate *s = ud;
	struct xml_node *n;
	const char *local;
	(void)atts;

	if (s->err)
		return;
	if (++s->depth > XML_MAX_DEPTH || ++s->nodes > XML_MAX_NODES) {
		s->err = CN_EBADXML;
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	n = cn_pool_zalloc(s->pool, sizeof(*n));
	if (!n) {
		s->err = CN_ENOMEM;
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	/* Namespaces are reported as "uri|local" (separator set below). */
	local = strrchr(name, '|');
	n->name = cn_pool_strndup(s->pool, local ? local + 1 : name,
				  strlen(local ? local + 1 : name));
	n->text = "";
	n->parent = s->cur;
	if (s->cur && s->cur->solid) {
		s->err = CN_EBADXML; /* mixed content */
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	if (s->cur) {
		struct xml_node **pp = &s->cur->child;
		/* Append keeps document order; nodes per parent are few or the
		 * parse is bounded anyway, so find the tail through the cache. */
		if (s->last_child_of_cur && s->last_child_of_cur->parent == s->cur)
			pp = &s->last_child_of_cur->next;
		else
			while (*pp)
				pp = &(*pp)->next;
		*pp = n;
	} else if (!s->root) {
		s->root = n;
	} else {
		s->err = CN_EBADXML;
	}
	s->cur = n;
	s->last_child_of_cur = NULL;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct pstate *s = ud;
	(void)name;

	if (s->err || !s->cur)
		return;
	s->depth--;
	s->last_child_of_cur = s->cur;
	s->cur = s->cur->parent;
}

static void XMLCALL on_text(void *ud, const XML_Char *txt, int len)
{
	struct pstate *s = ud;
	struct xml_node *n = s->cur;
	char *nt;

	size_t need;

	if (s->err || !n || len <= 0)
		return;
	for (int i = 0; i < len && !n->solid; i++)
		n->solid = txt[i] != ' ' && txt[i] != '\t' && txt[i] != '\n' && txt[i] != '\r';
	if (n->solid && n->child) {
		s->err = CN_EBADXML; /* mixed content */
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	need = n->text_len + (size_t)len + 1;
	if (s->grow != n || need > s->grow_cap) {
		size_t cap = need < 64 ? 64 : need * 2;
		nt = cn_pool_alloc(s->pool, cap);
		if (!nt) {
			s->err = CN_ENOMEM;
			XML_StopParser(s->p, XML_FALSE);
			return;
		}
		memcpy(nt, n->text, n->text_len);
		n->text = nt;
		s->grow = n;
		s->grow_cap = cap;
	}
	memcpy(n->text + n->text_len, txt, (size_t)len);
	n->text_len += (size_t)len;
	n->text[n->text_len] = 0;
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *entityName, int is_parameter_entity,
				   const XML_Char *value, int value_length, const XML_Char *base,
				   const XML_Char *systemId, const XML_Char *publicId,
				   const XML_Char *notationName)
{
	struct pstate *s = ud;
	(void)entityName, (void)is_parameter_entity, (void)value, (void)value_length;
	(void)base, (void)systemId, (void)publicId, (void)notationName;
	/* Entity declarations have no place in S3 bodies; refuse them. */
	s->err = CN_EBADXML;
	XML_StopParser(s->p, XML_FALSE);
}

int xml_parse(struct cn_pool *pool, const char *body, size_t len, struct xml_node **root)
{
	struct pstate s;
	int rc = 0;

	memset(&s, 0, sizeof(s));
	s.pool = pool;
	s.p = XML_ParserCreateNS(NULL, '|');
	if (!s.p)
		return CN_ENOMEM;
	XML_SetUserData(s.p, &s);
	XML_SetElementHandler(s.p, on_start, on_end);
	XML_SetCharacterDataHandler(s.p, on_text);
	XML_SetEntityDeclHandler(s.p, on_entity_decl);
	if (XML_Parse(s.p, body, (int)len, XML_TRUE) != XML_STATUS_OK || s.err || !s.root)
		rc = s.err == CN_ENOMEM ? CN_ENOMEM : CN_EBADXML;
	XML_ParserFree(s.p);
	if (rc == 0)
		*root = s.root;
	return rc;
}

struct xml_node *xml_child(struct xml_node *n, const char *name)
{
	if (!n)
		return NULL;
	for (struct xml_node *c = n->child; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const char *xml_child_text(struct xml_node *n, const char *name)
{
	struct xml_node *c = xml_child(n, name);
	return c ? c->text : NULL;
}
