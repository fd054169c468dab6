/*
 * Unit tests for s3/cors: CORSConfiguration bodies as the AWS docs and
 * botocore write them (namespaced and not, pretty-printed or not, element
 * order free); every shape error (MalformedXML) and every validation error
 * (InvalidRequest, AWS's messages) with its precedence; the limits (100
 * rules, 64 KB, 255-character IDs); GetBucketCors XML byte for byte; the
 * binary encoding (exact bytes, round trips, every truncation, trailing
 * bytes, every bad count, flag, method and string); and the matching
 * matrix: origins (exact, '*', a '*' subdomain of https example.com, no match), methods,
 * requested headers (all allowed, one not, case, 'x-amz-*'), preflight vs
 * actual request, first match wins, and the exact response header values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "s3/cors.h"
#include "s3/s3err.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

/* The user guide's first example: three rules, the last for any origin. */
static const char aws_example1[] = "<CORSConfiguration>\n"
				   " <CORSRule>\n"
				   "   <AllowedOrigin>http://www.example1.com</AllowedOrigin>\n"
				   "\n"
				   "   <AllowedMethod>PUT</AllowedMethod>\n"
				   "   <AllowedMethod>POST</AllowedMethod>\n"
				   "   <AllowedMethod>DELETE</AllowedMethod>\n"
				   "\n"
				   "   <AllowedHeader>*</AllowedHeader>\n"
				   " </CORSRule>\n"
				   " <CORSRule>\n"
				   "   <AllowedOrigin>http://www.example2.com</AllowedOrigin>\n"
				   "\n"
				   "   <AllowedMethod>PUT</AllowedMethod>\n"
				   "   <AllowedMethod>POST</AllowedMethod>\n"
				   "   <AllowedMethod>DELETE</AllowedMethod>\n"
				   "\n"
				   "   <AllowedHeader>*</AllowedHeader>\n"
				   " </CORSRule>\n"
				   " <CORSRule>\n"
				   "   <AllowedOrigin>*</AllowedOrigin>\n"
				   "   <AllowedMethod>GET</AllowedMethod>\n"
				   " </CORSRule>\n"
				   "</CORSConfiguration>\n";

/* The user guide's second example: MaxAgeSeconds and ExposeHeader. */
static const char aws_example2[] = "<CORSConfiguration>\n"
				   " <CORSRule>\n"
				   "   <AllowedOrigin>http://www.example.com</AllowedOrigin>\n"
				   "   <AllowedMethod>PUT</AllowedMethod>\n"
				   "   <AllowedMethod>POST</AllowedMethod>\n"
				   "   <AllowedMethod>DELETE</AllowedMethod>\n"
				   "   <AllowedHeader>*</AllowedHeader>\n"
				   "  <MaxAgeSeconds>3000</MaxAgeSeconds>\n"
				   "  <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>\n"
				   "  <ExposeHeader>x-amz-request-id</ExposeHeader>\n"
				   "  <ExposeHeader>x-amz-id-2</ExposeHeader>\n"
				   " </CORSRule>\n"
				   "</CORSConfiguration>\n";

/* As botocore serialises put_bucket_cors: namespaced, no declaration, ID
 * first, members in the caller's order. */
static const char boto3_body[] =
	"<CORSConfiguration " NS ">"
	"<CORSRule><ID>app</ID><AllowedHeaders>x</AllowedHeaders></CORSRule>"
	"</CORSConfiguration>";

/* ---- helpers ---- */

static struct cors_config *parse_ok(const char *xml)
{
	struct cors_config *c = NULL;
	char err[256] = "";
	int rc = cors_from_xml(xml, strlen(xml), &c, err, sizeof(err));

	if (rc)
		fail_msg("cors_from_xml: %s (%s) for\n%s", cn_errname(rc), err, xml);
	assert_non_null(c);
	return c;
}

/* Parses a body that must fail with rc; returns the message (static). */
static const char *parse_err(const char *xml, size_t len, int want)
{
	static char err[512];
	struct cors_config *c = (struct cors_config *)&err; /* must stay untouched */
	struct cors_config *orig = c;
	int rc;

	err[0] = 0;
	rc = cors_from_xml(xml, len, &c, err, sizeof(err));
	if (rc != want)
		fail_msg("want %s, got %s (%s) for\n%.*s", cn_errname(want), cn_errname(rc), err,
			 (int)(len > 2000 ? 2000 : len), xml);
	assert_ptr_equal(c, orig);
	assert_true(err[0] != 0); /* every error says why */
	return err;
}

static const char *perr(const char *xml, int want)
{
	return parse_err(xml, strlen(xml), want);
}

/* One rule, methods and origin given, around `inner`. */
static char *one_rule(const char *inner)
{
	struct cn_buf b;

	cn_buf_init(&b);
	cn_buf_printf(&b, "<CORSConfiguration><CORSRule>%s</CORSRule></CORSConfiguration>", inner);
	assert_int_equal(b.err, 0);
	return cn_buf_take(&b);
}

static void rule_err(const char *inner, int want, const char *msg)
{
	char *x = one_rule(inner);
	const char *got = perr(x, want);

	if (msg)
		assert_string_equal(got, msg);
	free(x);
}

static void strs_eq(const char *const *got, unsigned n, const char *const *want, unsigned wn)
{
	assert_int_equal(n, wn);
	for (unsigned i = 0; i < n; i++)
		assert_string_equal(got[i], want[i]);
}

static void methods_eq(const struct cors_rule *r, const char *want)
{
	char got[64] = "";

	for (unsigned i = 0; i < r->n_methods; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, cors_method_name(r->methods[i]));
	}
	assert_string_equal(got, want);
}

static char *render(const struct cors_config *c)
{
	struct cn_buf w;

	cn_buf_init(&w);
	cors_to_xml(c, &w);
	assert_int_equal(w.err, 0);
	return cn_buf_take(&w);
}

static struct cn_buf encode(const struct cors_config *c)
{
	struct cn_buf w;

	cn_buf_init(&w);
	assert_int_equal(cors_encode(c, &w), 0);
	return w;
}

/* a and b hold the same rules: their encodings are equal. */
static void config_eq(const struct cors_config *a, const struct cors_config *b)
{
	struct cn_buf x = encode(a), y = encode(b);

	assert_int_equal(x.len, y.len);
	assert_memory_equal(x.p, y.p, x.len);
	cn_buf_release(&x);
	cn_buf_release(&y);
}

/* ---- XML in ---- */

static void test_xml_aws_examples(void **state)
{
	struct cors_config *c;
	const struct cors_rule *r;
	const char *star[] = {"*"};
	(void)state;

	c = parse_ok(aws_example1);
	assert_int_equal(c->n_rules, 3);
	for (int i = 0; i < 2; i++) {
		const char *o[] = {i ? "http://www.example2.com" : "http://www.example1.com"};
		r = &c->rules[i];
		assert_null(r->id);
		strs_eq(r->origins, r->n_origins, o, 1);
		methods_eq(r, "PUT POST DELETE");
		assert_string_equal(r->allow_methods, "PUT, POST, DELETE");
		strs_eq(r->allowed_headers, r->n_allowed_headers, star, 1);
		assert_int_equal(r->n_expose_headers, 0);
		assert_null(r->expose);
		assert_int_equal(r->max_age, -1);
	}
	r = &c->rules[2];
	strs_eq(r->origins, r->n_origins, star, 1);
	methods_eq(r, "GET");
	assert_string_equal(r->allow_methods, "GET");
	assert_int_equal(r->n_allowed_headers, 0);
	cors_config_free(c);

	c = parse_ok(aws_example2);
	assert_int_equal(c->n_rules, 1);
	r = &c->rules[0];
	{
		const char *ex[] = {"x-amz-server-side-encryption", "x-amz-request-id",
				    "x-amz-id-2"};
		strs_eq(r->expose_headers, r->n_expose_headers, ex, 3);
	}
	assert_string_equal(r->expose,
			    "x-amz-server-side-encryption, x-amz-request-id, x-amz-id-2");
	assert_int_equal(r->max_age, 3000);
	cors_config_free(c);
}

/* The same documents namespaced, with a declaration, and as clients send them. */
static void test_xml_clients(void **state)
{
	struct cors_config *a, *b;
	char *ns;
	(void)state;

	/* namespaced with a declaration: the same config */
	a = parse_ok(aws_example2);
	ns = malloc(sizeof(aws_example2) + 128);
	snprintf(ns, sizeof(aws_example2) + 128, "%s<CORSConfiguration %s>%s", DECL, NS,
		 aws_example2 + strlen("<CORSConfiguration>"));
	b = parse_ok(ns);
	config_eq(a, b);
	cors_config_free(a);
	cors_config_free(b);
	free(ns);

	/* botocore: ID first; an unknown member (the plural) is refused */
	perr(boto3_body, CN_EBADXML);
	a = parse_ok("<CORSConfiguration " NS "><CORSRule><ID>app</ID>"
		     "<AllowedHeader>Authorization</AllowedHeader>"
		     "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
		     "<AllowedOrigin>*</AllowedOrigin><ExposeHeader>ETag</ExposeHeader>"
		     "<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>");
	assert_string_equal(a->rules[0].id, "app");
	assert_string_equal(a->rules[0].allow_methods, "GET, PUT");
	assert_string_equal(a->rules[0].expose, "ETag");

	/* any element order, whitespace around values dropped, another prefix */
	b = parse_ok("<s3:CORSConfiguration xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<s3:CORSRule><s3:MaxAgeSeconds> 3000 </s3:MaxAgeSeconds>"
		     "<s3:ExposeHeader>ETag</s3:ExposeHeader>"
		     "<s3:AllowedOrigin>\n\t*\n</s3:AllowedOrigin>"
		     "<s3:AllowedMethod>GET</s3:AllowedMethod>"
		     "<s3:AllowedHeader>Authorization</s3:AllowedHeader>"
		     "<s3:AllowedMethod> PUT</s3:AllowedMethod><s3:ID>app</s3:ID>"
		     "</s3:CORSRule></s3:CORSConfiguration>");
	config_eq(a, b);
	cors_config_free(a);
	cors_config_free(b);

	/* duplicate methods dropped, first order kept; other duplicates kept */
	a = parse_ok("<CORSConfiguration><CORSRule>"
		     "<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
		     "<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
		     "<AllowedOrigin>https://a.example</AllowedOrigin>"
		     "<AllowedOrigin>https://a.example</AllowedOrigin>"
		     "<ExposeHeader>ETag</ExposeHeader><ExposeHeader></ExposeHeader>"
		     "<ExposeHeader>ETag</ExposeHeader>"
		     "</CORSRule></CORSConfiguration>");
	methods_eq(&a->rules[0], "HEAD GET");
	assert_string_equal(a->rules[0].allow_methods, "HEAD, GET");
	assert_int_equal(a->rules[0].n_origins, 2);
	assert_int_equal(a->rules[0].n_expose_headers, 3);
	assert_string_equal(a->rules[0].expose, "ETag, ETag"); /* the empty one skipped */
	cors_config_free(a);

	/* an empty origin is accepted (as S3 does); an empty ID is an ID */
	a = parse_ok("<CORSConfiguration><CORSRule><ID/><AllowedOrigin/>"
		     "<AllowedMethod>GET</AllowedMethod><AllowedHeader></AllowedHeader>"
		     "<ExposeHeader/></CORSRule></CORSConfiguration>");
	assert_string_equal(a->rules[0].id, "");
	assert_string_equal(a->rules[0].origins[0], "");
	assert_string_equal(a->rules[0].allowed_headers[0], "");
	assert_null(a->rules[0].expose);
	cors_config_free(a);

	/* every method, MaxAgeSeconds 0 and its largest value, escaped text */
	a = parse_ok("<CORSConfiguration><CORSRule>"
		     "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
		     "<AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"
		     "<AllowedMethod>HEAD</AllowedMethod>"
		     "<AllowedOrigin>http://a&amp;b</AllowedOrigin><ID>&lt;r&gt;</ID>"
		     "<MaxAgeSeconds>0</MaxAgeSeconds></CORSRule>"
		     "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>"
		     "<MaxAgeSeconds>2147483647</MaxAgeSeconds></CORSRule>"
		     "</CORSConfiguration>");
	assert_string_equal(a->rules[0].allow_methods, "GET, PUT, POST, DELETE, HEAD");
	assert_string_equal(a->rules[0].origins[0], "http://a&b");
	assert_string_equal(a->rules[0].id, "<r>");
	assert_int_equal(a->rules[0].max_age, 0);
	assert_int_equal(a->rules[1].max_age, INT32_MAX);
	cors_config_free(a);
}

static void test_xml_malformed(void **state)
{
	static const char *const rules[] = {
		/* no origin, no method, nothing */
		"<AllowedMethod>GET</AllowedMethod>",
		"<AllowedOrigin>*</AllowedOrigin>",
		"",
		/* an unknown or misspelt element, the plural botocore model names */
		"<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Foo/>",
		"<AllowedOrigins>*</AllowedOrigins><AllowedMethod>GET</AllowedMethod>",
		/* two IDs, two MaxAgeSeconds */
		"<ID>a</ID><ID>b</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</"
		"AllowedMethod>",
		"<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>"
		"<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
		/* text in the rule, an element inside a value */
		"x<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
		"<AllowedOrigin><a/></AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
		"<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET<b/></AllowedMethod>",
	};
	static const char *const ages[] = {
		"", "abc", "-1", "+1", "3.5", "1e3", "2147483648", "99999999999999999999", "1 2"};
	(void)state;

	/* not XML at all, empty, truncated, two roots */
	parse_err("", 0, CN_EBADXML);
	perr("not xml", CN_EBADXML);
	perr("<CORSConfiguration><CORSRule>", CN_EBADXML);
	perr("<CORSConfiguration/><CORSConfiguration/>", CN_EBADXML);
	/* the root: another name, text, no rule, another child */
	perr("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
	     "</CORSRule>",
	     CN_EBADXML);
	perr("<CORSConfiguration>x<CORSRule><AllowedOrigin>*</AllowedOrigin>"
	     "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
	     CN_EBADXML);
	assert_string_equal(perr("<CORSConfiguration/>", CN_EBADXML), "no CORSRule");
	perr("<CORSConfiguration " NS "></CORSConfiguration>", CN_EBADXML);
	perr("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
	     "<AllowedMethod>GET</AllowedMethod></CORSRule><Rule/></CORSConfiguration>",
	     CN_EBADXML);
	/* entities are refused by the reader */
	perr("<!DOCTYPE x [<!ENTITY a \"GET\">]><CORSConfiguration><CORSRule>"
	     "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>&a;</AllowedMethod>"
	     "</CORSRule></CORSConfiguration>",
	     CN_EBADXML);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		rule_err(rules[i], CN_EBADXML, NULL);
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		char inner[256];
		snprintf(inner, sizeof(inner),
			 "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
			 "<MaxAgeSeconds>%s</MaxAgeSeconds>",
			 ages[i]);
		rule_err(inner, CN_EBADXML, NULL);
	}
}

static void test_xml_invalid(void **state)
{
	static const char *const methods[] = {"MYMETHOD", "get",     "OPTIONS", "PATCH",
					      "*",	  "GET,PUT", ""};
	(void)state;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char inner[256], msg[256];
		snprintf(inner, sizeof(inner),
			 "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
			 "<AllowedMethod>%s</AllowedMethod>",
			 methods[i]);
		snprintf(msg, sizeof(msg),
			 "Found unsupported HTTP method in CORS config. Unsupported method is %s",
			 methods[i]);
		rule_err(inner, CN_EBADCORS, msg);
	}
	rule_err("<AllowedOrigin>*example*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
		 CN_EBADCORS,
		 "AllowedOrigin \"*example*.com\" can not have more than one wildcard.");
	rule_err("<AllowedOrigin>**</AllowedOrigin><AllowedMethod>GET</AllowedMethod>", CN_EBADCORS,
		 "AllowedOrigin \"**\" can not have more than one wildcard.");
	rule_err("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		 "<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>x-*-*</AllowedHeader>",
		 CN_EBADCORS, "AllowedHeader \"x-*-*\" can not have more than one wildcard.");
	/* an ExposeHeader may hold '*' (passed through) */
	{
		char *x = one_rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</"
				   "AllowedMethod><ExposeHeader>*-*</ExposeHeader>");
		cors_config_free(parse_ok(x));
		free(x);
	}
	/* control characters would split a response header */
	rule_err("<AllowedOrigin>http://a&#9;b</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
		 CN_EBADCORS, "AllowedOrigin can not contain control characters.");
	rule_err("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		 "<AllowedHeader>a&#10;b</AllowedHeader>",
		 CN_EBADCORS, "AllowedHeader can not contain control characters.");
	rule_err("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
		 "<ExposeHeader>ETag&#13;&#10;Set-Cookie: x</ExposeHeader>",
		 CN_EBADCORS, "ExposeHeader can not contain control characters.");

	/* IDs: 255 characters (multi-byte ones too) pass, 256 do not; an ID
	 * may hold TAB, LF and CR */
	{
		struct cn_buf b;
		struct cors_config *c;

		cn_buf_init(&b);
		cn_buf_puts(&b, "<ID>");
		for (int i = 0; i < CORS_MAX_ID; i++)
			cn_buf_puts(&b, "\xc3\xa9"); /* é */
		cn_buf_puts(&b, "</ID><AllowedOrigin>*</AllowedOrigin>"
				"<AllowedMethod>GET</AllowedMethod>");
		{
			char *x = one_rule(b.s);
			c = parse_ok(x);
			assert_int_equal(strlen(c->rules[0].id), 2 * CORS_MAX_ID);
			cors_config_free(c);
			free(x);
		}
		cn_buf_reset(&b);
		cn_buf_puts(&b, "<ID>");
		for (int i = 0; i <= CORS_MAX_ID; i++)
			cn_buf_putc(&b, 'i');
		cn_buf_puts(&b, "</ID><AllowedOrigin>*</AllowedOrigin>"
				"<AllowedMethod>GET</AllowedMethod>");
		rule_err(b.s, CN_EBADCORS,
			 "The ID of a CORSRule can not be longer than 255 characters.");
		cn_buf_release(&b);
		c = parse_ok("<CORSConfiguration><CORSRule><ID>a&#9;b&#10;c&#13;d</ID>"
			     "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
			     "</CORSRule></CORSConfiguration>");
		assert_string_equal(c->rules[0].id, "a\tb\nc\rd");
		cors_config_free(c);
	}

	/* precedence: a shape error anywhere wins over a refused value; the
	 * first offending rule is reported; in a rule, methods come first */
	perr("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
	     "<AllowedMethod>BAD</AllowedMethod></CORSRule><CORSRule/></CORSConfiguration>",
	     CN_EBADXML);
	assert_string_equal(
		perr("<CORSConfiguration><CORSRule><AllowedOrigin>**</AllowedOrigin>"
		     "<AllowedMethod>GET</AllowedMethod></CORSRule><CORSRule>"
		     "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>BAD</AllowedMethod>"
		     "</CORSRule></CORSConfiguration>",
		     CN_EBADCORS),
		"AllowedOrigin \"**\" can not have more than one wildcard.");
	rule_err("<AllowedOrigin>**</AllowedOrigin><AllowedMethod>BAD</AllowedMethod>", CN_EBADCORS,
		 "Found unsupported HTTP method in CORS config. Unsupported method is BAD");

	/* a short err buffer is truncated, never overrun; none at all is fine */
	{
		char small[8];
		struct cors_config *c = NULL;
		const char *x = "<CORSConfiguration/>";

		memset(small, 'z', sizeof(small));
		assert_int_equal(cors_from_xml(x, strlen(x), &c, small, 4), CN_EBADXML);
		assert_string_equal(small, "no ");
		assert_int_equal(small[4], 'z');
		assert_int_equal(cors_from_xml(x, strlen(x), &c, NULL, 0), CN_EBADXML);
		assert_null(c);
	}
}

static void test_xml_limits(void **state)
{
	static const char rule[] = "<CORSRule><AllowedOrigin>*</AllowedOrigin>"
				   "<AllowedMethod>GET</AllowedMethod></CORSRule>";
	struct cn_buf b;
	struct cors_config *c;
	(void)state;

	/* 100 rules pass, 101 do not */
	cn_buf_init(&b);
	cn_buf_puts(&b, "<CORSConfiguration>");
	for (int i = 0; i < CORS_MAX_RULES; i++)
		cn_buf_puts(&b, rule);
	cn_buf_puts(&b, "</CORSConfiguration>");
	c = parse_ok(b.s);
	assert_int_equal(c->n_rules, CORS_MAX_RULES);
	cors_config_free(c);
	cn_buf_reset(&b);
	cn_buf_puts(&b, "<CORSConfiguration>");
	for (int i = 0; i <= CORS_MAX_RULES; i++)
		cn_buf_puts(&b, rule);
	cn_buf_puts(&b, "</CORSConfiguration>");
	assert_string_equal(perr(b.s, CN_EBADCORS),
			    "The CORS configuration can not have more than 100 rules.");

	/* 64 KB exactly passes (padded with whitespace), one byte more does not */
	cn_buf_reset(&b);
	cn_buf_puts(&b, "<CORSConfiguration>");
	cn_buf_puts(&b, rule);
	while (b.len < CORS_MAX_XML - strlen("</CORSConfiguration>"))
		cn_buf_putc(&b, ' ');
	cn_buf_puts(&b, "</CORSConfiguration>");
	assert_int_equal(b.len, CORS_MAX_XML);
	c = parse_ok(b.s);
	cors_config_free(c);
	cn_buf_putc(&b, '\n');
	assert_string_equal(parse_err(b.s, b.len, CN_EBADCORS),
			    "The CORS configuration can not be larger than 65536 bytes.");
	cn_buf_release(&b);

	/* a full 64 KB of origins in one rule */
	cn_buf_init(&b);
	cn_buf_puts(&b, "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>");
	while (b.len < CORS_MAX_XML - 200)
		cn_buf_puts(&b, "<AllowedOrigin>https://*.e.com</AllowedOrigin>");
	cn_buf_puts(&b, "</CORSRule></CORSConfiguration>");
	c = parse_ok(b.s);
	assert_true(c->rules[0].n_origins > 1000);
	{
		struct cn_buf e = encode(c);
		struct cors_config *d;
		assert_int_equal(cors_decode(e.p, e.len, &d), 0);
		config_eq(c, d);
		cors_config_free(d);
		cn_buf_release(&e);
	}
	cors_config_free(c);
	cn_buf_release(&b);
}

/* ---- XML out ---- */

static void test_to_xml(void **state)
{
	struct cors_config *c, *d;
	char *x, *y;
	(void)state;

	c = parse_ok(aws_example1);
	x = render(c);
	assert_string_equal(x, DECL
			    "<CORSConfiguration " NS ">"
			    "<CORSRule><AllowedHeader>*</AllowedHeader>"
			    "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>"
			    "<AllowedMethod>DELETE</AllowedMethod>"
			    "<AllowedOrigin>http://www.example1.com</AllowedOrigin></CORSRule>"
			    "<CORSRule><AllowedHeader>*</AllowedHeader>"
			    "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>"
			    "<AllowedMethod>DELETE</AllowedMethod>"
			    "<AllowedOrigin>http://www.example2.com</AllowedOrigin></CORSRule>"
			    "<CORSRule><AllowedMethod>GET</AllowedMethod>"
			    "<AllowedOrigin>*</AllowedOrigin></CORSRule>"
			    "</CORSConfiguration>");
	/* what is rendered parses back to the same rules and the same bytes */
	d = parse_ok(x);
	config_eq(c, d);
	y = render(d);
	assert_string_equal(x, y);
	free(x);
	free(y);
	cors_config_free(c);
	cors_config_free(d);

	/* every member, in botocore's order, values escaped */
	c = parse_ok(
		"<CORSConfiguration><CORSRule>"
		"<MaxAgeSeconds>0003000</MaxAgeSeconds>"
		"<ExposeHeader>x-amz-request-id</ExposeHeader><ExposeHeader>ETag</ExposeHeader>"
		"<AllowedOrigin>https://*.example.com</AllowedOrigin>"
		"<AllowedOrigin>http://a&amp;b&apos;&quot;&gt;</AllowedOrigin>"
		"<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
		"<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</"
		"AllowedHeader>"
		"<ID> rule &lt;1&gt;&#13;2 </ID></CORSRule></CORSConfiguration>");
	x = render(c);
	assert_string_equal(x, DECL
			    "<CORSConfiguration " NS "><CORSRule>"
			    "<ID>rule &lt;1&gt;&#13;2</ID>"
			    "<AllowedHeader>x-amz-*</AllowedHeader>"
			    "<AllowedHeader>Content-Type</AllowedHeader>"
			    "<AllowedMethod>HEAD</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
			    "<AllowedOrigin>https://*.example.com</AllowedOrigin>"
			    "<AllowedOrigin>http://a&amp;b&apos;&quot;&gt;</AllowedOrigin>"
			    "<ExposeHeader>x-amz-request-id</ExposeHeader>"
			    "<ExposeHeader>ETag</ExposeHeader>"
			    "<MaxAgeSeconds>3000</MaxAgeSeconds>"
			    "</CORSRule></CORSConfiguration>");
	d = parse_ok(x);
	config_eq(c, d);
	assert_string_equal(d->rules[0].id, "rule <1>\r2");
	y = render(d);
	assert_string_equal(x, y);
	free(x);
	free(y);
	cors_config_free(c);
	cors_config_free(d);
}

/* ---- binary encoding ---- */

static void test_encode_bytes(void **state)
{
	static const uint8_t want[] = {
		1, 2,						    /* version, 2 rules */
		0, 1, CORS_GET,					    /* no flags, GET */
		0, 1, 0,	1,	   '*',			    /* origins: "*" */
		0, 0, 0,	0,				    /* no headers */
		3, 2, CORS_PUT, CORS_HEAD,			    /* ID and max age, PUT HEAD */
		0, 2, 'r',	'1',				    /* ID "r1" */
		0, 0, 0x0b,	0xb8,				    /* 3000 */
		0, 2, 0,	1,	   'a', 0,   0,		    /* origins: "a", "" */
		0, 1, 0,	4,	   'x', '-', 'a', '*',	    /* headers: "x-a*" */
		0, 2, 0,	4,	   'E', 'T', 'a', 'g', 0, 0 /* expose: "ETag", "" */
	};
	struct cors_config *c, *d;
	struct cn_buf w;
	(void)state;

	c = parse_ok("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
		     "<AllowedMethod>GET</AllowedMethod></CORSRule>"
		     "<CORSRule><ID>r1</ID><AllowedMethod>PUT</AllowedMethod>"
		     "<AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>a</AllowedOrigin>"
		     "<AllowedOrigin/><AllowedHeader>x-a*</AllowedHeader>"
		     "<ExposeHeader>ETag</ExposeHeader><ExposeHeader/>"
		     "<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule></CORSConfiguration>");
	w = encode(c);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.p, want, sizeof(want));
	assert_int_equal(cors_decode(w.p, w.len, &d), 0);
	config_eq(c, d);
	assert_string_equal(d->rules[1].id, "r1");
	assert_string_equal(d->rules[1].allow_methods, "PUT, HEAD");
	assert_string_equal(d->rules[1].expose, "ETag");
	assert_int_equal(d->rules[1].max_age, 3000);
	assert_int_equal(d->rules[0].max_age, -1);
	assert_null(d->rules[0].id);
	/* encoding appends */
	assert_int_equal(cors_encode(c, &w), 0);
	assert_int_equal(w.len, 2 * sizeof(want));
	assert_memory_equal(w.p + sizeof(want), want, sizeof(want));
	cn_buf_release(&w);
	cors_config_free(c);
	cors_config_free(d);
}

static void test_encode_round_trip(void **state)
{
	const char *docs[] = {aws_example1, aws_example2};
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct cors_config *c = parse_ok(docs[i]), *d;
		struct cn_buf w = encode(c), w2;
		char *x, *y;

		assert_int_equal(cors_decode(w.p, w.len, &d), 0);
		w2 = encode(d);
		assert_int_equal(w.len, w2.len);
		assert_memory_equal(w.p, w2.p, w.len);
		x = render(c);
		y = render(d);
		assert_string_equal(x, y);
		free(x);
		free(y);
		cn_buf_release(&w);
		cn_buf_release(&w2);
		cors_config_free(c);
		cors_config_free(d);
	}
}

/* Decodes p, which must fail with want, leaving *out alone. */
static void decode_err(const uint8_t *p, size_t len, int want)
{
	struct cors_config *d = (struct cors_config *)&want, *orig = d;
	int rc = cors_decode(p, len, &d);

	if (rc != want)
		fail_msg("decode of %zu bytes: want %s, got %s", len, cn_errname(want),
			 cn_errname(rc));
	assert_ptr_equal(d, orig);
}

static void test_decode_rejects(void **state)
{
	struct cors_config *c, *d;
	struct cn_buf w;
	uint8_t *p;
	(void)state;

	c = parse_ok(aws_example2);
	w = encode(c);
	p = w.p;

	/* every truncation, and a trailing byte */
	for (size_t len = 0; len < w.len; len++)
		decode_err(p, len, CN_ECORRUPT);
	cn_buf_putc(&w, 0);
	p = w.p;
	decode_err(p, w.len, CN_ECORRUPT);
	w.len--;
	assert_int_equal(cors_decode(p, w.len, &d), 0);
	cors_config_free(d);

	/* unknown versions */
	for (int v = 0; v < 256; v++) {
		if (v == 1)
			continue;
		p[0] = (uint8_t)v;
		decode_err(p, w.len, CN_EFORMAT);
	}
	p[0] = 1;
	/* every rule count but the true one */
	for (int n = 0; n < 256; n++) {
		if (n == 1)
			continue;
		p[1] = (uint8_t)n;
		decode_err(p, w.len, CN_ECORRUPT);
	}
	p[1] = 1;
	/* flags: bit 1 is set (max age); bit 0 would want an ID, others are unknown */
	assert_int_equal(p[2], 2);
	for (int f = 0; f < 256; f++) {
		if (f == 2)
			continue;
		p[2] = (uint8_t)f;
		decode_err(p, w.len, CN_ECORRUPT);
	}
	p[2] = 2;
	/* the method count and each method code */
	assert_int_equal(p[3], 3);
	for (int m = 0; m < 256; m++) {
		if (m == 3)
			continue;
		p[3] = (uint8_t)m;
		decode_err(p, w.len, CN_ECORRUPT);
	}
	p[3] = 3;
	assert_int_equal(p[4], CORS_PUT);
	for (int m = 0; m < 256; m++) {
		int rc;
		p[4] = (uint8_t)m;
		rc = cors_decode(p, w.len, &d);
		/* PUT, or GET / HEAD: not among the rule's others (POST, DELETE) */
		if (m == CORS_PUT || m == CORS_GET || m == CORS_HEAD) {
			assert_int_equal(rc, 0);
			cors_config_free(d);
		} else {
			assert_int_equal(rc, CN_ECORRUPT);
		}
	}
	p[4] = CORS_PUT;
	/* a max age past INT32_MAX (bytes 7..10) */
	assert_int_equal(p[9], 0x0b);
	p[7] = 0x80;
	decode_err(p, w.len, CN_ECORRUPT);
	p[7] = 0x7f;
	assert_int_equal(cors_decode(p, w.len, &d), 0);
	assert_int_equal(d->rules[0].max_age, 0x7f000bb8);
	cors_config_free(d);
	p[7] = 0;
	/* the origin count (bytes 11..12): 0 is refused, more is a lie */
	assert_int_equal(p[12], 1);
	p[12] = 0;
	decode_err(p, w.len, CN_ECORRUPT);
	p[12] = 2;
	decode_err(p, w.len, CN_ECORRUPT);
	p[11] = 0xff;
	p[12] = 0xff;
	decode_err(p, w.len, CN_ECORRUPT);
	p[11] = 0;
	p[12] = 1;
	/* the origin's length (13..14) and bytes (15..): "http://www.example.com" */
	assert_int_equal(p[14], 22);
	p[14] = 23;
	decode_err(p, w.len, CN_ECORRUPT);
	p[14] = 22;
	{
		static const uint8_t bad[] = {0, 1, '\r', ' ', 0x7f, 0xc0, 0xff, 0xed, '*'};
		for (size_t i = 0; i < sizeof(bad); i++) {
			uint8_t keep[2] = {p[15], p[16]};
			p[15] = bad[i];
			if (bad[i] == '*') /* "**" */
				p[16] = '*';
			decode_err(p, w.len, CN_ECORRUPT);
			p[15] = keep[0];
			p[16] = keep[1];
		}
		/* a single '*' and a valid two-byte character are fine */
		p[15] = '*';
		assert_int_equal(cors_decode(p, w.len, &d), 0);
		cors_config_free(d);
		p[15] = 0xc3;
		p[16] = 0xa9;
		assert_int_equal(cors_decode(p, w.len, &d), 0);
		assert_string_equal(d->rules[0].origins[0], "\xc3\xa9tp://www.example.com");
		cors_config_free(d);
		p[15] = 'h';
		p[16] = 't';
	}
	assert_int_equal(cors_decode(p, w.len, &d), 0);
	config_eq(c, d);
	cors_config_free(d);
	cn_buf_release(&w);
	cors_config_free(c);

	/* IDs: 255 characters pass, 256 do not; a control character does not */
	{
		uint8_t rec[2 + 2 + 1 + 2 + 300 + 5 + 4];
		size_t n;

		for (int len = 255; len <= 256; len++) {
			n = 0;
			rec[n++] = 1;
			rec[n++] = 1;
			rec[n++] = 1; /* ID */
			rec[n++] = 1;
			rec[n++] = CORS_GET;
			rec[n++] = (uint8_t)(len >> 8);
			rec[n++] = (uint8_t)len;
			memset(rec + n, 'i', (size_t)len);
			n += (size_t)len;
			memcpy(rec + n, "\0\1\0\1*\0\0\0\0", 9);
			n += 9;
			if (len == 255) {
				assert_int_equal(cors_decode(rec, n, &d), 0);
				assert_int_equal(strlen(d->rules[0].id), 255);
				cors_config_free(d);
				rec[7] = 1; /* a C0 character */
				decode_err(rec, n, CN_ECORRUPT);
				rec[7] = '\t'; /* TAB is XML, but not around the ID */
				decode_err(rec, n, CN_ECORRUPT);
				rec[7] = 'i';
				rec[8] = '\t';
				assert_int_equal(cors_decode(rec, n, &d), 0);
				cors_config_free(d);
			} else {
				decode_err(rec, n, CN_ECORRUPT);
			}
		}
	}
	/* nothing at all */
	decode_err((const uint8_t *)"", 0, CN_ECORRUPT);
}

static void test_encode_rejects(void **state)
{
	const char *origins[] = {"*"}, *two_stars[] = {"**"}, *ctl[] = {"a\nb"},
		   *bad_utf8[] = {"\xff"}, *spaced[] = {"* "};
	struct cors_rule r;
	struct cors_config c = {1, &r};
	struct cn_buf w;
	char long_id[300];
	(void)state;

	cn_buf_init(&w);
	memset(&r, 0, sizeof(r));
	r.methods[0] = CORS_GET;
	r.n_methods = 1;
	r.origins = origins;
	r.n_origins = 1;
	r.max_age = -1;
	assert_int_equal(cors_encode(&c, &w), 0);
	cn_buf_reset(&w);

#define REJECT(change, undo)                                                                       \
	do {                                                                                       \
		change;                                                                            \
		assert_int_equal(cors_encode(&c, &w), CN_EINVAL);                                  \
		assert_int_equal(w.len, 0);                                                        \
		undo;                                                                              \
		assert_int_equal(cors_encode(&c, &w), 0);                                          \
		cn_buf_reset(&w);                                                                  \
	} while (0)

	REJECT(c.n_rules = 0, c.n_rules = 1);
	REJECT(c.n_rules = CORS_MAX_RULES + 1, c.n_rules = 1);
	REJECT(r.n_methods = 0, r.n_methods = 1);
	REJECT(r.n_methods = 6, r.n_methods = 1);
	REJECT(r.methods[0] = 0, r.methods[0] = CORS_GET);
	REJECT(r.methods[0] = 6, r.methods[0] = CORS_GET);
	REJECT((r.methods[1] = CORS_GET, r.n_methods = 2), r.n_methods = 1);
	REJECT(r.n_origins = 0, r.n_origins = 1);
	REJECT(r.origins = two_stars, r.origins = origins);
	REJECT(r.origins = ctl, r.origins = origins);
	REJECT(r.origins = bad_utf8, r.origins = origins);
	REJECT(r.origins = spaced, r.origins = origins);
	REJECT((r.allowed_headers = two_stars, r.n_allowed_headers = 1), r.n_allowed_headers = 0);
	REJECT((r.expose_headers = ctl, r.n_expose_headers = 1), r.n_expose_headers = 0);
	REJECT(r.max_age = -2, r.max_age = -1);
	memset(long_id, 'i', 256);
	long_id[256] = 0;
	REJECT(r.id = long_id, r.id = NULL);
	REJECT(r.id = "\x01", r.id = NULL);
#undef REJECT
	cn_buf_release(&w);
}

/* ---- matching ---- */

/* Matches and checks the answer; want_rule -1: no match. */
static void match(const struct cors_config *c, const char *origin, const char *method,
		  const char *hdrs, int preflight, int want_rule, const char *want_origin,
		  const char *want_headers)
{
	struct cors_result *out = malloc(sizeof(*out));
	int rc = cors_match(c, origin, method, hdrs, preflight, out);

	if (want_rule < 0) {
		if (rc != 0)
			fail_msg("%s %s [%s] %s: matched rule %u, want none", origin, method,
				 hdrs ? hdrs : "-", preflight ? "preflight" : "actual", out->rule);
		free(out);
		return;
	}
	if (rc != 1)
		fail_msg("%s %s [%s] %s: no match, want rule %d", origin ? origin : "(null)",
			 method ? method : "(null)", hdrs ? hdrs : "-",
			 preflight ? "preflight" : "actual", want_rule);
	assert_int_equal(out->rule, (unsigned)want_rule);
	assert_string_equal(out->allow_origin, want_origin);
	assert_int_equal(out->allow_credentials, strcmp(want_origin, "*") != 0);
	if (strcmp(want_origin, "*") != 0)
		assert_ptr_equal(out->allow_origin, origin); /* the caller's string */
	if (want_headers)
		assert_string_equal(out->allow_headers, want_headers);
	else
		assert_null(out->allow_headers);
	assert_string_equal(out->vary, VARY);
	assert_string_equal(out->allow_methods, c->rules[want_rule].allow_methods);
	free(out);
}

static void test_match_origins(void **state)
{
	struct cors_config *c;
	(void)state;

	c = parse_ok(
		"<CORSConfiguration>"
		"<CORSRule><AllowedOrigin>http://www.example.com</AllowedOrigin>"
		"<AllowedOrigin>https://*.example.com</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod></CORSRule>"
		"<CORSRule><AllowedOrigin>*suffix</AllowedOrigin>"
		"<AllowedOrigin>start*end</AllowedOrigin><AllowedOrigin>prefix*</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod></CORSRule>"
		"<CORSRule><AllowedOrigin>*</AllowedOrigin>"
		"<AllowedMethod>PUT</AllowedMethod></CORSRule>"
		"</CORSConfiguration>");
	/* exact; ASCII case ignored; scheme, port, a trailing slash matter */
	match(c, "http://www.example.com", "GET", NULL, 0, 0, "http://www.example.com", NULL);
	match(c, "HTTP://WWW.Example.COM", "GET", NULL, 1, 0, "HTTP://WWW.Example.COM", NULL);
	match(c, "https://www.example.com", "GET", NULL, 0, 0, "https://www.example.com", NULL);
	match(c, "http://www.example.com:80", "GET", NULL, 0, -1, NULL, NULL);
	match(c, "http://www.example.com/", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "http://example.com", "GET", NULL, 1, -1, NULL, NULL);
	/* the subdomain wildcard: any run of characters, dots included */
	match(c, "https://a.example.com", "GET", NULL, 1, 0, "https://a.example.com", NULL);
	match(c, "https://a.b.example.com", "GET", NULL, 1, 0, "https://a.b.example.com", NULL);
	match(c, "https://.example.com", "GET", NULL, 1, 0, "https://.example.com", NULL);
	match(c, "https://example.com", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "https://a.example.com.evil", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "http://a.example.com", "GET", NULL, 1, -1, NULL, NULL);
	/* ceph s3-tests' patterns: anchored at both ends, '*' may be empty */
	match(c, "foo.suffix", "GET", NULL, 1, 1, "foo.suffix", NULL);
	match(c, "suffix", "GET", NULL, 1, 1, "suffix", NULL);
	match(c, "startend", "GET", NULL, 1, 1, "startend", NULL);
	match(c, "start12end", "GET", NULL, 1, 1, "start12end", NULL);
	match(c, "prefix", "GET", NULL, 1, 1, "prefix", NULL);
	match(c, "prefix.suffix", "GET", NULL, 1, 1, "prefix.suffix", NULL);
	match(c, "foo.bar", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "foo.suffix.get", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "0start12end", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "bla.prefix", "GET", NULL, 1, -1, NULL, NULL);
	match(c, "star", "GET", NULL, 1, -1, NULL, NULL); /* "start*end" needs both */
	/* "*": any origin, answered "*" without credentials */
	match(c, "https://anything.test", "PUT", NULL, 1, 2, "*", NULL);
	match(c, "null", "PUT", NULL, 0, 2, "*", NULL);
	match(c, "", "PUT", NULL, 0, 2, "*", NULL);
	/* no Origin, or one with a control character: not CORS */
	match(c, NULL, "PUT", NULL, 1, -1, NULL, NULL);
	match(c, "http://x\r\nSet-Cookie: a", "PUT", NULL, 1, -1, NULL, NULL);
	match(c, "http://x\x7f", "PUT", NULL, 0, -1, NULL, NULL);
	cors_config_free(c);

	/* a rule listing "*" beside a specific origin answers "*" */
	c = parse_ok(
		"<CORSConfiguration><CORSRule>"
		"<AllowedOrigin>https://a.example</AllowedOrigin><AllowedOrigin>*</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>");
	match(c, "https://a.example", "GET", NULL, 1, 0, "*", NULL);
	match(c, "https://b.example", "GET", NULL, 1, 0, "*", NULL);
	cors_config_free(c);

	/* an empty AllowedOrigin matches only an empty Origin */
	c = parse_ok("<CORSConfiguration><CORSRule><AllowedOrigin/>"
		     "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>");
	match(c, "", "GET", NULL, 1, 0, "", NULL);
	match(c, "x", "GET", NULL, 1, -1, NULL, NULL);
	cors_config_free(c);
}

static void test_match_methods(void **state)
{
	struct cors_config *c;
	static const char *const all[] = {"GET", "PUT", "POST", "DELETE", "HEAD"};
	(void)state;

	c = parse_ok("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
		     "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>"
		     "<AllowedMethod>DELETE</AllowedMethod></CORSRule></CORSConfiguration>");
	for (int pre = 0; pre <= 1; pre++) {
		for (size_t i = 0; i < 5; i++) {
			int allowed = i >= 1 && i <= 3;
			match(c, "https://o.example", all[i], NULL, pre, allowed ? 0 : -1, "*",
			      NULL);
		}
		/* exact names only; never OPTIONS; no method */
		match(c, "https://o.example", "put", NULL, pre, -1, NULL, NULL);
		match(c, "https://o.example", "PUT ", NULL, pre, -1, NULL, NULL);
		match(c, "https://o.example", "OPTIONS", NULL, pre, -1, NULL, NULL);
		match(c, "https://o.example", "", NULL, pre, -1, NULL, NULL);
		match(c, "https://o.example", NULL, NULL, pre, -1, NULL, NULL);
	}
	cors_config_free(c);

	/* cors_method_name / cors_method_parse */
	for (int m = CORS_GET; m <= CORS_HEAD; m++) {
		assert_string_equal(cors_method_name(m), all[m - 1]);
		assert_int_equal(cors_method_parse(all[m - 1]), m);
	}
	assert_null(cors_method_name(0));
	assert_null(cors_method_name(6));
	assert_null(cors_method_name(-1));
	assert_int_equal(cors_method_parse("get"), 0);
	assert_int_equal(cors_method_parse("GETS"), 0);
	assert_int_equal(cors_method_parse(""), 0);
	assert_int_equal(cors_method_parse(NULL), 0);
}

static void test_match_headers(void **state)
{
	struct cors_config *c;
	const char *o = "https://app.example";
	(void)state;

	c = parse_ok("<CORSConfiguration>"
		     "<CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>"
		     "<AllowedMethod>PUT</AllowedMethod>"
		     "<AllowedHeader>Content-Type</AllowedHeader>"
		     "<AllowedHeader>x-amz-*</AllowedHeader>"
		     "<AllowedHeader>Authorization</AllowedHeader></CORSRule>"
		     "<CORSRule><AllowedOrigin>https://app.example</AllowedOrigin>"
		     "<AllowedMethod>GET</AllowedMethod></CORSRule>"
		     "<CORSRule><AllowedOrigin>https://any.example</AllowedOrigin>"
		     "<AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule>"
		     "</CORSConfiguration>");
	/* all allowed: echoed lower-case, in the order requested, ", "-joined */
	match(c, o, "PUT", "content-type", 1, 0, o, "content-type");
	match(c, o, "PUT", "authorization,content-type,x-amz-date", 1, 0, o,
	      "authorization, content-type, x-amz-date");
	match(c, o, "PUT", "X-Amz-Date, Content-TYPE", 1, 0, o, "x-amz-date, content-type");
	match(c, o, "PUT", " x-amz-meta-a ,\tx-amz-content-sha256\t", 1, 0, o,
	      "x-amz-meta-a, x-amz-content-sha256");
	/* x-amz-*: the prefix itself, any suffix; not another prefix */
	match(c, o, "PUT", "x-amz-", 1, 0, o, "x-amz-");
	match(c, o, "PUT", "X-AMZ-SERVER-SIDE-ENCRYPTION", 1, 0, o, "x-amz-server-side-encryption");
	match(c, o, "PUT", "x-amzz", 1, -1, NULL, NULL);
	/* one not allowed: the whole preflight fails */
	match(c, o, "PUT", "content-type,x-custom", 1, -1, NULL, NULL);
	match(c, o, "PUT", "content-length", 1, -1, NULL, NULL);
	/* empty elements and an empty list: as no header requested */
	match(c, o, "PUT", "", 1, 0, o, NULL);
	match(c, o, "PUT", " , ,", 1, 0, o, NULL);
	match(c, o, "PUT", ",content-type,,", 1, 0, o, "content-type");
	/* a name that is not a token matches nothing */
	match(c, o, "PUT", "content type", 1, -1, NULL, NULL);
	match(c, o, "PUT", "x-amz-a\r\nx", 1, -1, NULL, NULL);
	match(c, o, "PUT", "x-amz-a;b", 1, -1, NULL, NULL);
	match(c, o, "PUT", "x-amz-\xc3\xa9", 1, -1, NULL, NULL);
	/* a rule without AllowedHeader allows no requested header */
	match(c, o, "GET", NULL, 1, 1, o, NULL);
	match(c, o, "GET", "x-amz-date", 1, -1, NULL, NULL);
	/* "*" allows any */
	match(c, "https://any.example", "GET", "x-anything, Authorization", 1, 2,
	      "https://any.example", "x-anything, authorization");
	/* an actual request's headers are not checked (S3 does not) */
	match(c, o, "PUT", "x-custom", 0, 0, o, NULL);
	match(c, o, "GET", "x-amz-date", 0, 1, o, NULL);
	match(c, o, "GET", "not a token", 0, 1, o, NULL);

	/* the longest answer that fits, and one byte more */
	{
		size_t cap = CORS_ALLOW_HEADERS_CAP;
		char *req = malloc(cap + 8), *want = malloc(cap + 8);
		size_t n = 0;

		/* "x-amz-a,x-amz-a,..." answered "x-amz-a, x-amz-a, ..." */
		while (n + 9 + 1 <= cap) {
			memcpy(want + n, n ? ", x-amz-a" : "x-amz-a", n ? 9 : 7);
			n += n ? 9 : 7;
		}
		want[n] = 0;
		req[0] = 0;
		for (size_t i = 0; i < (n + 2) / 9; i++)
			strcat(req, i ? ",x-amz-a" : "x-amz-a");
		match(c, o, "PUT", req, 1, 0, o, want);
		/* pad the last name so the answer is cap bytes with its NUL */
		while (strlen(want) + 1 < cap)
			strcat(req, "b"), strcat(want, "b");
		match(c, o, "PUT", req, 1, 0, o, want);
		strcat(req, "b");
		match(c, o, "PUT", req, 1, -1, NULL, NULL);
		free(req);
		free(want);
	}
	cors_config_free(c);
}

/* The first rule that matches wins; a rule that fails on one point gives way. */
static void test_match_first_wins(void **state)
{
	struct cors_config *c;
	const char *o = "https://www.example.com";
	(void)state;

	c = parse_ok(
		"<CORSConfiguration>"
		"<CORSRule><ID>narrow</ID><AllowedOrigin>https://www.example.com</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod>"
		"<AllowedHeader>range</AllowedHeader><MaxAgeSeconds>10</MaxAgeSeconds>"
		"</CORSRule>"
		"<CORSRule><ID>wild</ID><AllowedOrigin>https://*.example.com</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
		"<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
		"<MaxAgeSeconds>20</MaxAgeSeconds></CORSRule>"
		"<CORSRule><ID>any</ID><AllowedOrigin>*</AllowedOrigin>"
		"<AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>"
		"<AllowedHeader>*</AllowedHeader></CORSRule>"
		"</CORSConfiguration>");
	/* both the first two match: the first answers */
	match(c, o, "GET", NULL, 1, 0, o, NULL);
	match(c, o, "GET", "Range", 1, 0, o, "range");
	/* the first fails on a header, the method, or the origin: the next */
	match(c, o, "GET", "range, x-amz-date", 1, 1, o, "range, x-amz-date");
	match(c, o, "PUT", NULL, 1, 1, o, NULL);
	match(c, "https://api.example.com", "GET", NULL, 0, 1, "https://api.example.com", NULL);
	/* only the last matches */
	match(c, o, "HEAD", NULL, 1, 2, "*", NULL);
	match(c, "https://other.test", "GET", "x-y", 1, 2, "*", "x-y");
	/* none */
	match(c, "https://other.test", "PUT", NULL, 1, -1, NULL, NULL);
	match(c, o, "DELETE", NULL, 0, -1, NULL, NULL);
	cors_config_free(c);
}

/* Every field of the answer, as S3 sends it. */
static void test_match_response(void **state)
{
	struct cors_config *c;
	struct cors_result *r = malloc(sizeof(*r));
	const char *o = "http://www.example.com";
	(void)state;

	/* the user guide's second example: a specific origin */
	c = parse_ok(aws_example2);
	assert_int_equal(cors_match(c, o, "PUT", "x-amz-date", 1, r), 1);
	assert_ptr_equal(r->allow_origin, o);
	assert_string_equal(r->allow_methods, "PUT, POST, DELETE");
	assert_string_equal(r->allow_headers, "x-amz-date");
	assert_string_equal(r->expose_headers,
			    "x-amz-server-side-encryption, x-amz-request-id, x-amz-id-2");
	assert_int_equal(r->max_age, 3000);
	assert_int_equal(r->allow_credentials, 1);
	assert_string_equal(r->vary, VARY);
	assert_int_equal(r->rule, 0);
	/* the actual request gets the same, without Allow-Headers */
	assert_int_equal(cors_match(c, o, "DELETE", "x-amz-date", 0, r), 1);
	assert_ptr_equal(r->allow_origin, o);
	assert_null(r->allow_headers);
	assert_string_equal(r->allow_methods, "PUT, POST, DELETE");
	assert_string_equal(r->expose_headers,
			    "x-amz-server-side-encryption, x-amz-request-id, x-amz-id-2");
	assert_int_equal(r->max_age, 3000);
	assert_int_equal(r->allow_credentials, 1);
	/* the strings point into the config */
	assert_ptr_equal(r->allow_methods, c->rules[0].allow_methods);
	assert_ptr_equal(r->expose_headers, c->rules[0].expose);
	/* GET is not allowed, another origin is not */
	assert_int_equal(cors_match(c, o, "GET", NULL, 1, r), 0);
	assert_int_equal(cors_match(c, "http://www.example.org", "PUT", NULL, 1, r), 0);
	cors_config_free(c);

	/* "*": no credentials, no expose, no max age */
	c = parse_ok(aws_example1);
	assert_int_equal(cors_match(c, "https://x.test", "GET", NULL, 1, r), 1);
	assert_string_equal(r->allow_origin, "*");
	assert_int_equal(r->allow_credentials, 0);
	assert_string_equal(r->allow_methods, "GET");
	assert_null(r->allow_headers);
	assert_null(r->expose_headers);
	assert_int_equal(r->max_age, -1);
	assert_string_equal(r->vary, VARY);
	assert_int_equal(r->rule, 2);
	/* example1's first rules allow any header from their origins */
	assert_int_equal(
		cors_match(c, "http://www.example2.com", "POST", "content-type,x-amz-meta-a", 1, r),
		1);
	assert_int_equal(r->rule, 1);
	assert_string_equal(r->allow_origin, "http://www.example2.com");
	assert_string_equal(r->allow_headers, "content-type, x-amz-meta-a");
	assert_string_equal(r->allow_methods, "PUT, POST, DELETE");
	assert_int_equal(r->allow_credentials, 1);
	/* NULL config or result: no match */
	assert_int_equal(cors_match(NULL, o, "GET", NULL, 1, r), 0);
	assert_int_equal(cors_match(c, o, "GET", NULL, 1, NULL), 0);
	cors_config_free(c);
	cors_config_free(NULL);
	free(r);
}

/* The codes this module adds reach clients as AWS names them. */
static void test_error_mapping(void **state)
{
	const struct s3_error *e;
	(void)state;

	e = s3_error_lookup(CN_EBADCORS);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "InvalidRequest");
	e = s3_error_lookup(CN_ENOCORS);
	assert_int_equal(e->status, 404);
	assert_string_equal(e->code, "NoSuchCORSConfiguration");
	e = s3_error_lookup(CN_EBADXML);
	assert_int_equal(e->status, 400);
	assert_string_equal(e->code, "MalformedXML");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_aws_examples), cmocka_unit_test(test_xml_clients),
		cmocka_unit_test(test_xml_malformed),	 cmocka_unit_test(test_xml_invalid),
		cmocka_unit_test(test_xml_limits),	 cmocka_unit_test(test_to_xml),
		cmocka_unit_test(test_encode_bytes),	 cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_decode_rejects),	 cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_match_origins),	 cmocka_unit_test(test_match_methods),
		cmocka_unit_test(test_match_headers),	 cmocka_unit_test(test_match_first_wins),
		cmocka_unit_test(test_match_response),	 cmocka_unit_test(test_error_mapping),
	};
	unit_filter_from_env();
	return cmocka_run_group_tests_name("s3/test_cors", tests, NULL, NULL);
}
