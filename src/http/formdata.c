/*
 * http/formdata.c — see formdata.h. The grammar (RFC 2046 §5.1.1, with the
 * part headers of RFC 7578 §4):
 *
 *   body      := [preamble CRLF] "--" boundary padding CRLF part
 *                *(CRLF "--" boundary padding CRLF part)
 *                CRLF "--" boundary "--" [anything: the epilogue]
 *   part      := *(header CRLF) CRLF *OCTET
 *   padding   := *(SP / HT)
 *
 * The delimiter is matched byte by byte against fd->delim ("\r\n--"
 * boundary). A boundary holds no CR (RFC 2046 bchars), so CR occurs only at
 * delim[0]: when a partial match fails, none of the bytes held back can
 * start another delimiter, they are data, and they equal delim[0..match) —
 * so nothing of the input has to be kept between feeds. At the start of the
 * body and of each part's value the CRLF may have been the one just read
 * (fd->phantom bytes of the match were never data). A whole delimiter
 * counts only if SP, HT, CR, LF or "--" follows it (what Go's
 * mime/multipart also does; LF alone is then an error); "--boundaryX" or
 * "--boundary-X" inside a value is data.
 */
#include "http/formdata.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"

static int fail(struct formdata *fd, enum formdata_fail why, int err)
{
	fd->state = FORMDATA_S_ERROR;
	fd->fail = why;
	fd->err = err;
	return err;
}

/* A callback's answer: 0 goes on, FORMDATA_STOP ends the body, negative is
 * its error. Returns non-zero when the parser must not go on. */
static int cb_result(struct formdata *fd, int rc)
{
	if (rc < 0)
		return fail(fd, FORMDATA_FAIL_CALLBACK, rc);
	if (rc == FORMDATA_STOP) {
		fd->state = FORMDATA_S_DONE;
		return 1;
	}
	return 0;
}

/* RFC 2046 bchars: DIGIT ALPHA ' ( ) + _ , - . / : = ? and SP (not last). */
static int bchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("'()+_,-./:=? ", c) != NULL);
}

static int boundary_ok(const char *b, size_t len)
{
	if (len == 0 || len > FORMDATA_MAX_BOUNDARY || b[len - 1] == ' ')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!bchar((unsigned char)b[i]))
			return 0;
	return 1;
}

/* RFC 7230 tchar. */
static int tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int formdata_init(struct formdata *fd, const char *boundary, size_t len,
		  const struct formdata_limits *lim, const struct formdata_cb *cb, void *arg)
{
	size_t cap;

	memset(fd, 0, sizeof(*fd));
	if (!boundary_ok(boundary, len))
		return CN_EBADREQ;
	fd->cb = cb;
	fd->arg = arg;
	memcpy(fd->delim, "\r\n--", 4);
	memcpy(fd->delim + 4, boundary, len);
	fd->delim_len = 4 + len;
	fd->max_parts = lim && lim->max_parts ? lim->max_parts : FORMDATA_DEFAULT_PARTS;
	fd->value_cap = lim && lim->value_cap ? lim->value_cap : FORMDATA_DEFAULT_VALUE;
	/* hdr, then meta (decoded strings plus three NULs), then the value */
	cap = FORMDATA_MAX_HEADER + FORMDATA_MAX_HEADER + 3;
	if (fd->value_cap > SIZE_MAX - cap)
		return CN_ENOMEM;
	fd->hdr = malloc(cap + fd->value_cap);
	if (!fd->hdr)
		return CN_ENOMEM;
	fd->meta = fd->hdr + FORMDATA_MAX_HEADER;
	fd->value = fd->hdr + cap;
	fd->state = FORMDATA_S_PREAMBLE;
	/* The first delimiter may open the body: act as if a CRLF came first. */
	fd->match = fd->phantom = 2;
	return 0;
}

void formdata_release(struct formdata *fd)
{
	free(fd->hdr);
	fd->hdr = fd->meta = fd->value = NULL;
}

/* Value bytes of the current part (nothing in the preamble). */
static int emit(struct formdata *fd, const char *p, size_t n)
{
	if (n == 0 || fd->n_parts == 0)
		return 0;
	switch (fd->action) {
	case FORMDATA_BUFFER:
		if (n > fd->value_cap - fd->value_len)
			return fail(fd, FORMDATA_FAIL_VALUE, CN_ETOOBIG);
		memcpy(fd->value + fd->value_len, p, n);
		fd->value_len += n;
		return 0;
	case FORMDATA_STREAM:
		return fd->cb && fd->cb->part_data ? cb_result(fd, fd->cb->part_data(fd->arg, p, n))
						   : 0;
	default: return 0;
	}
}

/* PREAMBLE and BODY: data up to the next whole delimiter. */
static int scan(struct formdata *fd, const char **sp, const char *end)
{
	const char *s = *sp;
	int rc = 0;

	while (s < end) {
		if (fd->match == 0) {
			const char *cr = memchr(s, '\r', (size_t)(end - s));
			const char *stop = cr ? cr : end;
			rc = emit(fd, s, (size_t)(stop - s));
			s = stop;
			if (rc || !cr)
				break;
			s++;
			fd->match = 1;
		} else if (*s == fd->delim[fd->match]) {
			s++;
			if (++fd->match == fd->delim_len) {
				fd->state = FORMDATA_S_BOUNDARY;
				break;
			}
		} else {
			/* The held-back bytes were data; *s is looked at again. */
			size_t held = fd->match, phantom = fd->phantom;
			fd->match = fd->phantom = 0;
			rc = emit(fd, fd->delim + phantom, held - phantom);
			if (rc)
				break;
		}
	}
	*sp = s;
	return rc;
}

/* What looked like a delimiter was data (dash: a '-' followed it). */
static int not_delimiter(struct formdata *fd, int dash)
{
	size_t phantom = fd->phantom;
	int rc;

	fd->state = fd->n_parts ? FORMDATA_S_BODY : FORMDATA_S_PREAMBLE;
	fd->match = fd->phantom = 0;
	rc = emit(fd, fd->delim + phantom, fd->delim_len - phantom);
	if (rc == 0 && dash)
		rc = emit(fd, "-", 1);
	return rc;
}

/* A delimiter is certain: the open part, if any, ends. */
static int end_part(struct formdata *fd)
{
	const char *v = NULL;
	size_t n = 0;

	if (fd->n_parts == 0 || !fd->cb || !fd->cb->part_end)
		return 0;
	if (fd->action == FORMDATA_BUFFER) {
		v = fd->value;
		n = fd->value_len;
	}
	return cb_result(fd, fd->cb->part_end(fd->arg, &fd->part, v, n));
}

static void skip_ows(const char *v, size_t n, size_t *i)
{
	while (*i < n && (v[*i] == ' ' || v[*i] == '\t'))
		(*i)++;
}

static size_t token(const char *v, size_t n, size_t *i)
{
	size_t start = *i;
	while (*i < n && tchar((unsigned char)v[*i]))
		(*i)++;
	return *i - start;
}

/* A parameter value, token or quoted-string, decoded into out (which has
 * room for n - *i bytes). In a quoted-string only \" and \\ are escapes: a
 * browser sends a Windows path's backslashes as they are. */
static int param_value(const char *v, size_t n, size_t *i, char *out, size_t *out_len)
{
	size_t o = 0;

	if (*i < n && v[*i] == '"') {
		for ((*i)++;; (*i)++) {
			if (*i == n)
				return CN_EBADREQ; /* unterminated */
			char c = v[*i];
			if (c == '"')
				break;
			if (c == '\\' && *i + 1 < n && (v[*i + 1] == '"' || v[*i + 1] == '\\'))
				c = v[++*i];
			out[o++] = c;
		}
		(*i)++;
	} else {
		size_t start = *i, len = token(v, n, i);
		if (len == 0)
			return CN_EBADREQ;
		memcpy(out, v + start, len);
		o = len;
	}
	*out_len = o;
	return 0;
}

/* Content-Disposition: form-data; name="..."[; filename="..."]. The decoded
 * strings go to *m, which advances. Other parameters are ignored. */
static int disposition(struct formdata *fd, const char *v, size_t n, char **m)
{
	size_t i = 0, klen, vlen;
	int rc;

	if (token(v, n, &i) != 9 || strncasecmp(v, "form-data", 9) != 0)
		return CN_EBADREQ;
	for (;;) {
		skip_ows(v, n, &i);
		if (i == n)
			break;
		if (v[i++] != ';')
			return CN_EBADREQ;
		skip_ows(v, n, &i);
		if (i == n)
			break; /* a trailing ';' */
		const char *key = v + i;
		klen = token(v, n, &i);
		skip_ows(v, n, &i);
		if (klen == 0 || i == n || v[i] != '=')
			return CN_EBADREQ;
		i++;
		skip_ows(v, n, &i);
		rc = param_value(v, n, &i, *m, &vlen);
		if (rc)
			return rc;
		if (klen == 4 && strncasecmp(key, "name", 4) == 0) {
			if (fd->part.name)
				return CN_EBADREQ;
			fd->part.name = *m;
			fd->part.name_len = vlen;
		} else if (klen == 8 && strncasecmp(key, "filename", 8) == 0) {
			if (fd->part.filename)
				return CN_EBADREQ;
			fd->part.filename = *m;
			fd->part.filename_len = vlen;
		} else {
			continue; /* filename* and others: RFC 7578 §4.2 */
		}
		(*m)[vlen] = '\0';
		*m += vlen + 1;
	}
	return fd->part.name ? 0 : CN_EBADREQ;
}

/* One header line (without its CRLF). */
static int header_line(struct formdata *fd, const char *l, size_t n, char **m)
{
	size_t i = 0, nlen;
	const char *v;

	nlen = token(l, n, &i);
	if (nlen == 0 || i == n || l[i] != ':')
		return CN_EBADREQ;
	for (size_t k = i + 1; k < n; k++) {
		unsigned char c = (unsigned char)l[k];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return CN_EBADREQ;
	}
	i++;
	skip_ows(l, n, &i);
	while (n > i && (l[n - 1] == ' ' || l[n - 1] == '\t'))
		n--;
	v = l + i;
	n -= i;
	if (nlen == 19 && strncasecmp(l, "content-disposition", 19) == 0) {
		if (fd->part.name)
			return CN_EBADREQ; /* a second Content-Disposition */
		return disposition(fd, v, n, m);
	}
	if (nlen == 12 && strncasecmp(l, "content-type", 12) == 0) {
		if (fd->part.content_type)
			return CN_EBADREQ;
		memcpy(*m, v, n);
		(*m)[n] = '\0';
		fd->part.content_type = *m;
		fd->part.content_type_len = n;
		*m += n + 1;
	}
	return 0; /* other headers do not matter to a form */
}

/* The blank line after a part's headers: describe the part, ask what to do. */
static int headers_done(struct formdata *fd)
{
	char *m = fd->meta;
	int rc;

	memset(&fd->part, 0, sizeof(fd->part));
	fd->part.index = fd->n_parts - 1;
	for (size_t ls = 0; ls < fd->line_start;) {
		const char *l = fd->hdr + ls;
		size_t n = (size_t)((const char *)memchr(l, '\r', fd->line_start - ls) - l);
		rc = header_line(fd, l, n, &m);
		if (rc)
			return fail(fd, FORMDATA_FAIL_SYNTAX, rc);
		ls += n + 2;
	}
	if (!fd->part.name)
		return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ);
	/* The blank line's CRLF may be the delimiter's own: a part with no
	 * body at all (RFC 2046: body-part := headers [CRLF *OCTET]). */
	fd->state = FORMDATA_S_BODY;
	fd->match = fd->phantom = 2;
	fd->value_len = 0;
	fd->action = FORMDATA_BUFFER;
	if (!fd->cb || !fd->cb->part_begin)
		return 0;
	rc = fd->cb->part_begin(fd->arg, &fd->part);
	switch (rc) {
	case FORMDATA_BUFFER:
	case FORMDATA_STREAM:
	case FORMDATA_SKIP: fd->action = (enum formdata_action)rc; return 0;
	case FORMDATA_STOP: return cb_result(fd, rc);
	default: return fail(fd, FORMDATA_FAIL_CALLBACK, rc < 0 ? rc : CN_EINVAL);
	}
}

/* HEADER: collect lines until the empty one; CRLF only, no bare CR or LF. */
static int header_bytes(struct formdata *fd, const char **sp, const char *end)
{
	const char *s = *sp;
	int rc = 0;

	while (s < end) {
		char c = *s++;
		int after_cr = fd->hdr_len > 0 && fd->hdr[fd->hdr_len - 1] == '\r';
		if (fd->hdr_len == FORMDATA_MAX_HEADER) {
			rc = fail(fd, FORMDATA_FAIL_HEADER, CN_ETOOBIG);
			break;
		}
		if (after_cr != (c == '\n')) {
			rc = fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ);
			break;
		}
		fd->hdr[fd->hdr_len++] = c;
		if (c != '\n')
			continue;
		if (fd->hdr_len - 2 == fd->line_start) {
			rc = headers_done(fd);
			break;
		}
		fd->line_start = fd->hdr_len;
	}
	*sp = s;
	return rc;
}

/* BOUNDARY, DASH, PADDING, LF: one byte at a time. */
static int delimiter_byte(struct formdata *fd, const char **sp)
{
	char c = **sp;

	switch (fd->state) {
	case FORMDATA_S_BOUNDARY:
		if (c == '-') {
			fd->state = FORMDATA_S_DASH;
		} else if (c == '\n') {
			return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ); /* LF without CR */
		} else if (c == ' ' || c == '\t' || c == '\r') {
			fd->state = c == '\r' ? FORMDATA_S_LF : FORMDATA_S_PADDING;
			fd->phantom = 0;
			(*sp)++;
			return end_part(fd);
		} else {
			return not_delimiter(fd, 0); /* c is data: not consumed */
		}
		break;
	case FORMDATA_S_DASH:
		if (c != '-')
			return not_delimiter(fd, 1);
		fd->state = FORMDATA_S_DONE; /* the close delimiter */
		fd->phantom = 0;
		(*sp)++;
		return end_part(fd);
	case FORMDATA_S_PADDING:
		if (c == '\r')
			fd->state = FORMDATA_S_LF;
		else if (c != ' ' && c != '\t')
			return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ);
		break;
	case FORMDATA_S_LF:
		if (c != '\n')
			return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ);
		if (fd->n_parts == fd->max_parts)
			return fail(fd, FORMDATA_FAIL_PARTS, CN_ETOOBIG);
		fd->n_parts++;
		fd->hdr_len = 0;
		fd->line_start = 0;
		fd->state = FORMDATA_S_HEADER;
		break;
	default: return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EINVAL); /* not reached */
	}
	(*sp)++;
	return 0;
}

int formdata_feed(struct formdata *fd, const void *p, size_t len)
{
	const char *s = p, *end;

	if (len == 0)
		goto out;
	end = s + len;
	while (s < end) {
		switch (fd->state) {
		case FORMDATA_S_PREAMBLE:
		case FORMDATA_S_BODY: scan(fd, &s, end); break;
		case FORMDATA_S_HEADER: header_bytes(fd, &s, end); break;
		case FORMDATA_S_DONE:
		case FORMDATA_S_ERROR: goto out;
		default: delimiter_byte(fd, &s); break;
		}
	}
out:
	if (fd->state == FORMDATA_S_ERROR)
		return fd->err;
	return fd->state == FORMDATA_S_DONE ? FORMDATA_DONE : 0;
}

int formdata_finish(struct formdata *fd)
{
	switch (fd->state) {
	case FORMDATA_S_DONE: return 0;
	case FORMDATA_S_ERROR: return fd->err;
	case FORMDATA_S_PREAMBLE: return fail(fd, FORMDATA_FAIL_SYNTAX, CN_EBADREQ);
	default: return fail(fd, FORMDATA_FAIL_TRUNCATED, CN_EINCOMPLETE);
	}
}

int formdata_boundary(const char *ct, size_t len, char *out, size_t cap)
{
	size_t i = 0, tlen, vlen;
	const char *type;
	char tmp[FORMDATA_MAX_BOUNDARY + 1];
	int found = 0;

	skip_ows(ct, len, &i);
	type = ct + i;
	tlen = token(ct, len, &i);
	if (i < len && ct[i] == '/') {
		i++;
		tlen += 1 + token(ct, len, &i);
	}
	if (tlen != 19 || strncasecmp(type, "multipart/form-data", 19) != 0)
		return CN_EBADREQ;
	for (;;) {
		skip_ows(ct, len, &i);
		if (i == len)
			break;
		if (ct[i++] != ';')
			return CN_EBADREQ;
		skip_ows(ct, len, &i);
		if (i == len)
			break;
		const char *key = ct + i;
		size_t klen = token(ct, len, &i);
		if (klen == 0 || i == len || ct[i] != '=')
			return CN_EBADREQ;
		i++;
		int is_boundary = klen == 8 && strncasecmp(key, "boundary", 8) == 0;
		if (is_boundary && found)
			return CN_EBADREQ;
		if (i < len && ct[i] == '"') {
			/* quoted-string; quoted-pair takes any byte after '\' */
			for (vlen = 0, i++;; i++) {
				if (i == len)
					return CN_EBADREQ;
				char c = ct[i];
				if (c == '"')
					break;
				if (c == '\\' && ++i == len)
					return CN_EBADREQ;
				if (is_boundary && vlen == FORMDATA_MAX_BOUNDARY)
					return CN_EBADREQ;
				if (is_boundary)
					tmp[vlen] = ct[i];
				vlen++;
			}
			i++;
		} else {
			/* A token, loosely: clients leave '=', '/', ':' and '?' of
			 * a boundary unquoted; RFC 2046 allows those in it. */
			size_t start = i;
			while (i < len && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t' &&
			       ct[i] != '"')
				i++;
			vlen = i - start;
			if (vlen == 0 || (is_boundary && vlen > FORMDATA_MAX_BOUNDARY))
				return CN_EBADREQ;
			if (is_boundary)
				memcpy(tmp, ct + start, vlen);
		}
		if (!is_boundary)
			continue;
		if (!boundary_ok(tmp, vlen))
			return CN_EBADREQ;
		if (vlen + 1 > cap)
			return CN_ETOOBIG;
		memcpy(out, tmp, vlen);
		out[vlen] = '\0';
		found = 1;
	}
	return found ? 0 : CN_EBADREQ;
}
