// Typed wrappers over libcurl's variadic and macro APIs, which Swift cannot call directly.
#ifndef APITAP_CCURL_H
#define APITAP_CCURL_H
#include <curl/curl.h>
#include <stddef.h>

typedef size_t (*apitap_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode apitap_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode apitap_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode apitap_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode apitap_easy_setopt_off_t(CURL *handle, CURLoption option, long long value);
CURLcode apitap_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode apitap_easy_setopt_write_callback(CURL *handle, apitap_curl_data_cb cb, void *userdata);
CURLcode apitap_easy_setopt_header_callback(CURL *handle, apitap_curl_data_cb cb, void *userdata);
CURLcode apitap_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode apitap_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);
CURLcode apitap_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);
CURLMcode apitap_multi_setopt_long(CURLM *handle, CURLMoption option, long value);

// Option and info constants are enum values or macros; re-exported here as plain ints where Swift cannot see them.
#endif
