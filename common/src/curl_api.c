/*
 * curl_api.c: the table of libcurl's entry points in struct curl_api, loaded by dlapi.h.
 */
#include "common/curl_api.h"

#include "common/dlapi.h"
#include "common/xalloc.h"

#define CURL_SONAME "libcurl.so.4"

#define SYM(field, name) DLAPI_SYM(struct curl_api, field, name)

static const struct dlapi_sym syms[] = {
	SYM(global_init, "curl_global_init"),
	SYM(easy_init, "curl_easy_init"),
	SYM(easy_cleanup, "curl_easy_cleanup"),
	SYM(easy_reset, "curl_easy_reset"),
	SYM(easy_setopt, "curl_easy_setopt"),
	SYM(easy_getinfo, "curl_easy_getinfo"),
	SYM(easy_strerror, "curl_easy_strerror"),
	SYM(multi_init, "curl_multi_init"),
	SYM(multi_cleanup, "curl_multi_cleanup"),
	SYM(multi_setopt, "curl_multi_setopt"),
	SYM(multi_add_handle, "curl_multi_add_handle"),
	SYM(multi_remove_handle, "curl_multi_remove_handle"),
	SYM(multi_perform, "curl_multi_perform"),
	SYM(multi_poll, "curl_multi_poll"),
	SYM(multi_wakeup, "curl_multi_wakeup"),
	SYM(multi_timeout, "curl_multi_timeout"),
	SYM(multi_info_read, "curl_multi_info_read"),
	SYM(slist_append, "curl_slist_append"),
	SYM(slist_free_all, "curl_slist_free_all"),
	SYM(url, "curl_url"),
	SYM(url_cleanup, "curl_url_cleanup"),
	SYM(url_set, "curl_url_set"),
	SYM(url_get, "curl_url_get"),
	SYM(free_str, "curl_free"),
	{ "OPENSSL_init_crypto", offsetof(struct curl_api, openssl_init_crypto), 1 },
};

static struct curl_api table;
static struct dlapi lib = DLAPI_INIT(CURL_SONAME, syms, ARRAY_SIZE(syms), &table);

int curl_api_load(const char *soname, struct curl_api *api, char *err, size_t errlen)
{
	return dlapi_load_like(&lib, soname, api, err, errlen);
}

void curl_api_preload(void)
{
	dlapi_preload(&lib);
}

const struct curl_api *curl_api_get(void)
{
	return dlapi_get(&lib);
}
