/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_BANNED_H
#define CK_UTIL_BANNED_H

/*
 * Functions that are easy to misuse (after git's banned.h). Include this last
 * in a .c file; a use then fails to compile with a message naming the
 * function. Use strbuf, snprintf, parse_* and time_* instead.
 */
#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef gmtime
#define gmtime(x) BANNED(gmtime)
#undef localtime
#define localtime(x) BANNED(localtime)

#endif
