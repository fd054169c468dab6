/*
 * core/err.c — messages and names for cairn error codes.
 */
#include "core/err.h"

#include <string.h>

const char *cn_strerror(int err)
{
	switch (err) {
	case 0: return "success";
#define CN_X(name, off, msg)                                                                       \
	case name: return msg;
		CN_ERRORS(CN_X)
#undef CN_X
	default: break;
	}
	if (err < 0 && err > CN_ERR_BASE)
		return strerror(-err);
	return "unknown error";
}

const char *cn_errname(int err)
{
	switch (err) {
	case 0: return "OK";
#define CN_X(name, off, msg)                                                                       \
	case name: return #name;
		CN_ERRORS(CN_X)
#undef CN_X
	default: break;
	}
	if (err < 0 && err > CN_ERR_BASE) {
		const char *n = strerrorname_np(-err);
		return n ? n : "E?";
	}
	return "E?";
}
