/*
 * banned.h: functions that must not be used anywhere in the project.
 *
 * Force-included into every translation unit (-include common/banned.h), in the spirit of
 * git's banned.h. Each banned call becomes a compile error naming the function.
 * Use instead: snprintf / buf_appendf (buf.h), strtol-family with checks (config.h),
 * gmtime_r / localtime_r, memcpy with explicit lengths.
 */
#ifndef COMMON_BANNED_H
#define COMMON_BANNED_H

/* The system headers come first, so that their own declarations are not rewritten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef asctime
#define asctime(t) BANNED(asctime)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)

#endif
