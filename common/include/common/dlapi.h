/*
 * dlapi.h: a shared library loaded at run time (dlopen) into a table of function pointers.
 *
 * Linking a library with a large dependency tree (libcurl: gnutls, krb5, ldap, libcrypto, ...;
 * libpq: libssl, libcrypto, gssapi, ldap) makes the dynamic loader map and relocate its whole
 * closure before main(): milliseconds of CPU on every exec, paid also by a process that only
 * answers /healthz. So such a library is not linked (no DT_NEEDED entry); a module describes
 * the entry points it calls as a table of struct dlapi_sym, and this module fills a struct of
 * function pointers with dlsym. curl_api.h (libcurl, every service with an HTTP client) and
 * db-service's pq_api.h (libpq) are its users.
 *
 * A struct dlapi is one library's load, shared by the process: define it static, with
 * DLAPI_INIT. Its state is an explicit machine, changed only under its mutex:
 *
 *   DLAPI_IDLE --dlapi_preload()--> DLAPI_QUEUED --dlapi_start_preloads()--> DLAPI_LOADING
 *   DLAPI_IDLE or DLAPI_QUEUED --first dlapi_get()--> DLAPI_LOADING
 *   DLAPI_LOADING --> DLAPI_LOADED | DLAPI_FAILED  (final)
 *
 * Why a queue: dlopen holds the dynamic loader's lock while it maps and relocates, and
 * pthread_create() needs that lock to set up a thread's TLS. A load running while the HTTP
 * server creates its worker threads holds every pthread_create() up for the whole load
 * (7 ms of libpq on this machine, seen with strace as a futex wait). So dlapi_preload() only
 * queues the load; http_server_start() calls dlapi_start_preloads() once its threads exist,
 * which starts each queued load on a detached background thread, and every dlapi_preload()
 * after that starts at once. dlapi_get() waits for a load in progress, or runs it itself when
 * none was started (queued or not). The load runs once per process; the library is never
 * unloaded. A failed load (library or symbol missing) is logged once as an error.
 *
 * All functions are thread-safe.
 */
#ifndef COMMON_DLAPI_H
#define COMMON_DLAPI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* One entry point: the symbol's name and the offset of its field in the table. */
struct dlapi_sym {
	const char *name;
	size_t offset;
	int optional; /* 1: a missing symbol leaves the field NULL instead of failing */
};

/* A required entry point of the table struct `type`, stored in its field `field`. */
#define DLAPI_SYM(type, field, name)           \
	{                                      \
		name, offsetof(type, field), 0 \
	}

enum dlapi_state { DLAPI_IDLE, DLAPI_QUEUED, DLAPI_LOADING, DLAPI_LOADED, DLAPI_FAILED };

struct dlapi {
	const char *soname; /* "libcurl.so.4" */
	const struct dlapi_sym *syms;
	size_t nsyms;
	void *table; /* the struct the symbols are copied into; owned by the user module */
	size_t size; /* sizeof the table */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	enum dlapi_state state; /* under lock */
	atomic_int loaded;	/* 1 once state is DLAPI_LOADED: dlapi_get()'s lock-free path */
};

/* A static struct dlapi loading soname into *table_ptr, with the n entries of syms. */
#define DLAPI_INIT(soname_, syms_, n_, table_ptr)                                          \
	{                                                                                  \
		.soname = (soname_), .syms = (syms_), .nsyms = (n_), .table = (table_ptr), \
		.size = sizeof(*(table_ptr)), .lock = PTHREAD_MUTEX_INITIALIZER,           \
		.changed = PTHREAD_COND_INITIALIZER, .state = DLAPI_IDLE, .loaded = 0      \
	}

/*
 * Asks for d's library to be loaded on a background thread, once: queued until
 * dlapi_start_preloads(), started at once after it. Returns at once.
 */
void dlapi_preload(struct dlapi *d);

/*
 * Starts every queued load, each on its own background thread, and makes later
 * dlapi_preload() calls start at once. http_server_start() calls it when its threads exist.
 */
void dlapi_start_preloads(void);

/*
 * Waits for the load started by dlapi_preload() (or runs it here) and returns d's table, or
 * NULL if the library could not be loaded (logged once).
 */
const void *dlapi_get(struct dlapi *d);

/*
 * The loader itself, for the modules' tests: dlopen(soname) and every dlsym of syms into the
 * size-byte table. 0, or -1 with a message naming the library or the symbol in err
 * (NUL-terminated, cut to errlen) and the table zeroed; nothing is kept open on failure.
 */
int dlapi_load(const char *soname, const struct dlapi_sym *syms, size_t nsyms, void *table,
	       size_t size, char *err, size_t errlen);

/*
 * dlapi_load() with d's symbols and table size, into the caller's table from soname (another
 * copy of the library, or a wrong one): what the modules' tests check their table with. d
 * itself is not touched.
 */
int dlapi_load_like(const struct dlapi *d, const char *soname, void *table, char *err,
		    size_t errlen);

#endif
