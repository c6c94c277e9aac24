/*
 * curl_api.c: dlopen("libcurl.so.4") and dlsym of every entry point in struct curl_api.
 *
 * The table lists each symbol with the offset of its field; a symbol's address is copied into
 * the field with memcpy (POSIX guarantees a function's address from dlsym converts to a
 * function pointer; ISO C has no cast for it). RTLD_LOCAL: libcurl's symbols do not join the
 * global scope, and dlsym on its handle also searches its dependencies (OPENSSL_init_crypto
 * from libcrypto).
 */
#include "common/curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

#define CURL_SONAME "libcurl.so.4"

struct sym {
	const char *name;
	size_t offset;
	int optional;
};

#define SYM(field, name)                                  \
	{                                                 \
		name, offsetof(struct curl_api, field), 0 \
	}

static const struct sym syms[] = {
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

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct curl_api loaded;
static int load_ok;

int curl_api_load(const char *soname, struct curl_api *api, char *err, size_t errlen)
{
	void *h;
	size_t i;

	memset(api, 0, sizeof(*api));
	h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();

		snprintf(err, errlen, "cannot load %s: %s", soname, why ? why : "unknown error");
		return -1;
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *addr = dlsym(h, syms[i].name);

		if (!addr && !syms[i].optional) {
			snprintf(err, errlen, "%s has no symbol %s", soname, syms[i].name);
			goto fail;
		}
		memcpy((char *)api + syms[i].offset, &addr, sizeof(addr));
	}
	return 0;
fail:
	memset(api, 0, sizeof(*api));
	dlclose(h);
	return -1;
}

static void load(void)
{
	char err[512];

	if (curl_api_load(CURL_SONAME, &loaded, err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "libcurl not available, HTTP requests will fail: %s", err);
		return;
	}
	load_ok = 1;
}

static void *preload_main(void *unused)
{
	(void)unused;
	pthread_once(&load_once, load);
	return NULL;
}

static void spawn(void)
{
	pthread_attr_t attr;
	pthread_t thread;

	/* Without the thread, the first curl_api_get() loads libcurl itself. */
	if (pthread_attr_init(&attr) != 0)
		return;
	if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0)
		(void)pthread_create(&thread, &attr, preload_main, NULL);
	pthread_attr_destroy(&attr);
}

void curl_api_preload(void)
{
	static pthread_once_t spawn_once = PTHREAD_ONCE_INIT;

	pthread_once(&spawn_once, spawn);
}

const struct curl_api *curl_api_get(void)
{
	pthread_once(&load_once, load);
	return load_ok ? &loaded : NULL;
}
