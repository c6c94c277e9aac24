/*
 * http_check.c: the HTTP syntax rules of http_check.h.
 */
#include "common/http_check.h"

#include <string.h>
#include <strings.h>

#include "common/text.h"
#include "common/xalloc.h"

static int is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int http_check_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

const char *http_check_method(const char *m)
{
	static const char *const known[] = { "GET",    "HEAD",	  "POST",  "PUT",     "PATCH",
					     "DELETE", "OPTIONS", "TRACE", "CONNECT", "QUERY" };

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "_OTHER";
}

int http_check_value(const char *s)
{
	return strpbrk(s, "\r\n") == NULL;
}

int http_check_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left) {
		size_t n = text_utf8_seq(p, left);

		if (n == 0 || (*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
		p += n;
		left -= n;
	}
	return 1;
}

int http_check_json_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static size_t count(const struct http_header *h, size_t n, const char *name, const char **first)
{
	size_t k = 0;

	*first = NULL;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(h[i].name, name) != 0)
			continue;
		if (k++ == 0)
			*first = h[i].value;
	}
	return k;
}

const char *http_check_request(const char *method, const char *version, const struct http_header *h,
			       size_t n)
{
	const char *te, *cl, *host;
	size_t nte;

	if (!http_check_token(method))
		return "malformed method";
	for (size_t i = 0; i < n; i++) {
		if (!http_check_token(h[i].name))
			return "malformed header name";
		if (!http_check_text(h[i].value))
			return "header values must be UTF-8 text without control characters";
	}
	if (strcmp(version, "HTTP/1.1") == 0 && count(h, n, "Host", &host) != 1)
		return "HTTP/1.1 requests need exactly one Host header";
	if (count(h, n, "Content-Length", &cl) > 1)
		return "more than one Content-Length";
	nte = count(h, n, "Transfer-Encoding", &te);
	if (te == NULL)
		return NULL;
	if (strcmp(version, "HTTP/1.0") == 0) /* RFC 9112 §6.1: faulty framing */
		return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
	if (nte > 1 || strcasecmp(te, "chunked") != 0)
		return "only Transfer-Encoding: chunked is supported";
	if (cl)
		return "Content-Length and Transfer-Encoding together";
	return NULL;
}

const char *http_check_origin_form(const char *target)
{
	size_t skip;

	if (strncasecmp(target, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		skip = 8;
	else
		return target;
	return target + skip + strcspn(target + skip, "/?#");
}
