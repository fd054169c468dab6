/*
 * s3/cors.h — a bucket's CORS configuration: the CORSConfiguration XML of
 * PutBucketCors (parsed and validated) and GetBucketCors (rendered), a
 * compact binary encoding for the bucket record, and the evaluation of a
 * browser's request (preflight OPTIONS or actual) against the rules.
 *
 * Layer: s3 (uses xml/ and core/ only). Pure: no metadata, clock or socket.
 *
 * Invariants of every struct cors_config this module returns: 1 to
 * CORS_MAX_RULES rules; each rule has at least one origin and 1 to
 * CORS_N_METHODS distinct methods; every origin and allowed header holds at
 * most one '*'; no origin, allowed header or expose header holds a control
 * character (so none can split a response header); an ID holds at most
 * CORS_MAX_ID characters and no C0 character but TAB, LF and CR; no value
 * begins or ends with XML whitespace; max_age is -1 or 0..INT32_MAX. Every
 * string is NUL-terminated, valid UTF-8, and lives in the config's one
 * allocation.
 *
 * Ownership: a config is one heap block (cors_config_free). Chosen over a
 * fixed-capacity struct because the document's 64 KB may hold thousands of
 * short values or a few long ones: any fixed capacities would be either
 * huge or refuse valid documents. The block is immutable once returned.
 *
 * Thread rules: every function is pure; a returned config may be read (to
 * XML, encoded, matched) from any number of threads at once, and freed once
 * no reader remains.
 */
#ifndef CAIRN_S3_CORS_H
#define CAIRN_S3_CORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CORS_MAX_RULES 100	 /* AWS: "up to 100 rules" */
#define CORS_MAX_XML (64 * 1024) /* AWS: "limited to 64 KB in size" */
#define CORS_MAX_ID 255		 /* characters (UTF-8 code points) */
#define CORS_N_METHODS 5
/* Room for the Access-Control-Allow-Headers answer in struct cors_result,
 * NUL included: far above any browser's list (a request's headers are
 * 16 KiB at most; a list this long matches nothing, see cors_match()). */
#define CORS_ALLOW_HEADERS_CAP 4096

/* The five methods a rule may allow (AWS allows no other). */
enum cors_method {
	CORS_GET = 1,
	CORS_PUT,
	CORS_POST,
	CORS_DELETE,
	CORS_HEAD,
};

struct cors_rule {
	const char *id; /* NULL when the rule has no ID element */
	/* AllowedMethod, in document order, duplicates dropped */
	uint8_t methods[CORS_N_METHODS]; /* enum cors_method */
	unsigned n_methods;		 /* 1..CORS_N_METHODS */
	/* The three lists, each in document order, duplicates kept. */
	const char *const *origins; /* AllowedOrigin */
	unsigned n_origins;	    /* >= 1 */
	const char *const *allowed_headers;
	unsigned n_allowed_headers;
	const char *const *expose_headers;
	unsigned n_expose_headers;
	int32_t max_age; /* MaxAgeSeconds, -1 when absent */
	/* Response header values, built once: the methods joined by ", "
	 * ("GET, PUT"), and the non-empty expose headers joined by ", " (NULL
	 * when there are none). */
	const char *allow_methods;
	const char *expose;
};

/* Read-only for callers: made by cors_from_xml() or cors_decode() only. */
struct cors_config {
	unsigned n_rules; /* 1..CORS_MAX_RULES */
	const struct cors_rule *rules;
};

/* What to answer a request that cors_match() matched. Every string is
 * NUL-terminated; a NULL one means "send no such header". */
struct cors_result {
	const char *allow_origin;		  /* Access-Control-Allow-Origin */
	const char *allow_methods;		  /* Access-Control-Allow-Methods */
	const char *allow_headers;		  /* Access-Control-Allow-Headers */
	const char *expose_headers;		  /* Access-Control-Expose-Headers */
	int32_t max_age;			  /* Access-Control-Max-Age; -1: none */
	int allow_credentials;			  /* 1: Access-Control-Allow-Credentials: true */
	const char *vary;			  /* Vary */
	unsigned rule;				  /* index of the rule that matched */
	char headers_buf[CORS_ALLOW_HEADERS_CAP]; /* allow_headers lives here */
};

/* "GET", "PUT", "POST", "DELETE", "HEAD"; NULL for any other value.
 * Static string. */
const char *cors_method_name(int m);
/* The enum cors_method of an exact (case-sensitive) method name, or 0.
 * Borrows s. */
int cors_method_parse(const char *s);

/* Parses and validates a PutBucketCors body (namespaced or not; element
 * order free; XML whitespace around a value is dropped). Borrows body (len
 * bytes, no NUL needed). On success returns 0 and *out owns a new config
 * (cors_config_free). Otherwise *out is untouched and returns:
 *   CN_EBADXML   not well-formed, or not the schema's shape: another root,
 *                no CORSRule, an unknown element, text in a container or an
 *                element in a value, a rule without AllowedOrigin or
 *                AllowedMethod, two ID or MaxAgeSeconds in one rule, a
 *                MaxAgeSeconds that is not a decimal 0..2147483647
 *                (MalformedXML);
 *   CN_EBADCORS  valid in shape but refused (InvalidRequest); err holds
 *                the message to send, AWS's own where AWS has one:
 *                  Found unsupported HTTP method in CORS config.
 *                    Unsupported method is X
 *                  AllowedOrigin "X" can not have more than one wildcard.
 *                  AllowedHeader "X" can not have more than one wildcard.
 *                and cairn's for what AWS leaves unstated: a body over
 *                CORS_MAX_XML bytes, more than CORS_MAX_RULES rules, an ID
 *                over CORS_MAX_ID characters, a control character in an
 *                origin or a header name;
 *   CN_ENOMEM.
 * A body over CORS_MAX_XML is refused before it is parsed; otherwise
 * shape errors win over validation errors, which are reported for the
 * first offending rule in document order (in it: methods, origins,
 * allowed headers, expose headers, ID). err (errcap bytes, NUL-terminated,
 * truncated) receives a reason on every error when errcap > 0. */
int cors_from_xml(const char *body, size_t len, struct cors_config **out, char *err, size_t errcap);

/* Frees c (NULL is fine). Every pointer into c dies with it. */
void cors_config_free(struct cors_config *c);

/* Appends the GetBucketCors body to w: the XML declaration, then
 * CORSConfiguration in the S3 namespace, each CORSRule's children in the
 * order ID, AllowedHeader*, AllowedMethod+, AllowedOrigin+, ExposeHeader*,
 * MaxAgeSeconds (botocore's member order), values escaped, no whitespace
 * between elements. The same config always gives the same bytes. Borrows
 * c; allocation failure is sticky in w->err. */
void cors_to_xml(const struct cors_config *c, struct cn_buf *w);

/* Appends c's binary encoding (format in cors.c) to w. Returns 0,
 * CN_EINVAL when c breaks the invariants above (nothing is appended), or
 * w->err. Borrows c. */
int cors_encode(const struct cors_config *c, struct cn_buf *w);

/* Decodes exactly len bytes at p. Never trusts its input: returns 0 and
 * *out owns a new config (cors_config_free); CN_EFORMAT for an unknown
 * format version; CN_ECORRUPT for a truncation, a bad count, method or
 * flag, a string that breaks the invariants above, or trailing bytes;
 * CN_ENOMEM. *out is untouched on error. Borrows p. */
int cors_decode(const void *p, size_t len, struct cors_config **out);

/* Evaluates a cross-origin request against c, as S3 does: the first rule
 * that matches wins. A rule matches when
 *   - origin matches one of its AllowedOrigin: equal ignoring ASCII case,
 *     a '*' standing for any run of characters, the empty one included;
 *   - method (an actual request's method; for a preflight, the value of
 *     Access-Control-Request-Method) is exactly one of its AllowedMethod;
 *   - for a preflight only, every name in request_headers (the value of
 *     Access-Control-Request-Headers, comma-separated, blanks around names
 *     and empty elements ignored; NULL for none) matches one of its
 *     AllowedHeader the way origins do. An actual request's headers are
 *     not checked (S3 does not), so request_headers is ignored then.
 * Returns 1 and fills *out when a rule matches:
 *   allow_origin       "*" when the rule's AllowedOrigin list holds "*"
 *                      itself, else origin (AWS: "*" is returned instead
 *                      of the origin when it matches "*");
 *   allow_credentials  1 unless allow_origin is "*";
 *   allow_methods      the rule's methods ("GET, PUT");
 *   allow_headers      preflight with names requested: the names,
 *                      lower-cased, in the order requested, joined by
 *                      ", "; else NULL;
 *   expose_headers     the rule's expose headers joined by ", ", or NULL;
 *   max_age            the rule's MaxAgeSeconds or -1;
 *   vary               "Origin, Access-Control-Request-Headers,
 *                      Access-Control-Request-Method";
 *   rule               the rule's index.
 * Returns 0 when no rule matches (*out undefined), and also when origin or
 * method is NULL, origin holds a control character, or a requested header
 * name is not an HTTP token or the list does not fit
 * CORS_ALLOW_HEADERS_CAP. The caller chooses what "method" is: S3 matches
 * an actual request by its Access-Control-Request-Method when it carries
 * one, else by its method (observed, not documented).
 * Borrows everything; out's strings point into c (valid until
 * cors_config_free(c)), at origin (valid as long as it is), at static
 * strings, or into out->headers_buf (so *out must not be copied). */
int cors_match(const struct cors_config *c, const char *origin, const char *method,
	       const char *request_headers, int preflight, struct cors_result *out);

#endif
