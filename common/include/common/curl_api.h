/*
 * curl_api.h: libcurl, loaded at run time (dlopen) instead of at exec.
 *
 * Linking libcurl makes the dynamic loader map and relocate about 30 shared objects (gnutls,
 * krb5, ldap, ssh2, libcrypto, ...) before main(), and libcurl is linked BIND_NOW: several
 * milliseconds of CPU on every exec, paid also by a process that answers only /healthz. So no
 * binary has a DT_NEEDED entry on libcurl or libcrypto; this module loads "libcurl.so.4" with
 * dlapi.h. httpc.c and config.c call libcurl only through it.
 *
 * curl_api_preload() asks for the load on a background thread and returns at once (httpc_new()
 * calls it, so a service that owns an HTTP client loads libcurl as soon as it listens).
 * curl_api_get() waits for that load (or does it, when nothing started it): every first use
 * goes through it. A failed load (library or symbol missing) is logged once as an error, and
 * curl_api_get() returns NULL from then on: callers fail their request as if the target were
 * unreachable.
 *
 * All functions are thread-safe.
 */
#ifndef COMMON_CURL_API_H
#define COMMON_CURL_API_H

#include <stddef.h>

#include <curl/curl.h>

/* libcurl's entry points used here, named as libcurl's without the curl_ prefix. */
struct curl_api {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *e);
	void (*easy_reset)(CURL *e);
	CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *m);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_perform)(CURLM *m, int *running);
	CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd fds[], unsigned int nfds,
				int timeout_ms, int *numfds);
	CURLMcode (*multi_wakeup)(CURLM *m);
	CURLMcode (*multi_timeout)(CURLM *m, long *ms);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *line);
	void (*slist_free_all)(struct curl_slist *list);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *u);
	CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
	CURLUcode (*url_get)(CURLU *u, CURLUPart what, char **part, unsigned int flags);
	void (*free_str)(void *p); /* curl_free() */
	/*
	 * OpenSSL's OPENSSL_init_crypto() from the libcrypto libcurl loaded (httpc.c calls it
	 * before global_init), or NULL when that libcurl does not use libcrypto.
	 */
	int (*openssl_init_crypto)(unsigned long long opts, const void *settings);
};

/*
 * Asks for libcurl to be loaded on a background thread (dlapi_preload(): queued until the HTTP
 * server's threads exist); returns at once.
 */
void curl_api_preload(void);

/*
 * Waits for the load started by curl_api_preload() (or runs it here) and returns the table,
 * or NULL if libcurl could not be loaded (logged once).
 */
const struct curl_api *curl_api_get(void);

/*
 * The loader itself, for tests: dlopen(soname) and every dlsym into *api. 0, or -1 with a
 * message naming the library or the symbol in err (NUL-terminated, cut to errlen) and *api
 * zeroed; nothing is kept open on failure.
 */
int curl_api_load(const char *soname, struct curl_api *api, char *err, size_t errlen);

#endif
