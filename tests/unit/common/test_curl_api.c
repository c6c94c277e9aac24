#include <criterion/criterion.h>
#include <string.h>

#include "common/curl_api.h"

Test(curl_api, a_missing_library_fails_with_its_name)
{
	struct curl_api api;
	char err[256];

	memset(&api, 0xa5, sizeof(api));
	cr_assert_eq(curl_api_load("libbookstore-no-such-lib.so.9", &api, err, sizeof(err)), -1);
	cr_assert(strstr(err, "cannot load libbookstore-no-such-lib.so.9"), "err: %s", err);
	cr_assert_null(api.easy_init, "the table is zeroed on failure");
	cr_assert_null(api.global_init);
}

Test(curl_api, a_library_without_curl_symbols_names_the_missing_one)
{
	struct curl_api api;
	char err[256];

	cr_assert_eq(curl_api_load("libm.so.6", &api, err, sizeof(err)), -1);
	cr_assert(strstr(err, "libm.so.6 has no symbol curl_global_init"), "err: %s", err);
	cr_assert_null(api.easy_init);
}

Test(curl_api, a_short_error_buffer_is_cut_and_terminated)
{
	struct curl_api api;
	char err[8];

	cr_assert_eq(curl_api_load("libbookstore-no-such-lib.so.9", &api, err, sizeof(err)), -1);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
}

Test(curl_api, libcurl_loads_and_fills_every_entry)
{
	const struct curl_api *api;
	CURLU *u;
	char *host = NULL;

	curl_api_preload();
	curl_api_preload(); /* once only */
	api = curl_api_get();
	cr_assert_not_null(api);
	cr_assert_eq(curl_api_get(), api);
	cr_assert_not_null(api->openssl_init_crypto, "Debian's libcurl uses libcrypto");
	u = api->url();
	cr_assert_not_null(u);
	cr_assert_eq(api->url_set(u, CURLUPART_URL, "http://example.com:8080/x", 0), CURLUE_OK);
	cr_assert_eq(api->url_get(u, CURLUPART_HOST, &host, 0), CURLUE_OK);
	cr_assert_str_eq(host, "example.com");
	api->free_str(host);
	api->url_cleanup(u);
}
