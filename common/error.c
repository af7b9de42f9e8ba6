/* Per-thread last error, set where an error is detected (see error.h). */
#include "common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG_MAX 2048

static _Thread_local enum ferry_err last_code;
static _Thread_local char last_msg[MSG_MAX];

static const char *const code_names[] = {
    [FERRY_ERR_OK] = "ok",
    [FERRY_ERR_INTERNAL] = "internal",
    [FERRY_ERR_NOMEM] = "nomem",
    [FERRY_ERR_IO] = "io",
    [FERRY_ERR_INVALID] = "invalid",
    [FERRY_ERR_FORMAT] = "format",
    [FERRY_ERR_UNSUPPORTED] = "unsupported",
    [FERRY_ERR_NOTFOUND] = "notfound",
    [FERRY_ERR_EXISTS] = "exists",
    [FERRY_ERR_CONFLICT] = "conflict",
    [FERRY_ERR_EXPIRED] = "expired",
    [FERRY_ERR_NETWORK] = "network",
    [FERRY_ERR_CHECKSUM] = "checksum",
    [FERRY_ERR_TIMEOUT] = "timeout",
    [FERRY_ERR_SECURITY] = "security",
    [FERRY_ERR_LIBVIRT] = "libvirt",
};

int
ferry_error(enum ferry_err code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    last_code = code;
    return -1;
}

int
ferry_error_errno(enum ferry_err code, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    n = strlen(last_msg);
    snprintf(last_msg + n, sizeof last_msg - n, ": %s", strerror(errnum));
    last_code = code;
    return -1;
}

int
ferry_error_prefix(const char *fmt, ...)
{
    char prefix[512], old[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_msg, sizeof old);
    snprintf(last_msg, sizeof last_msg, "%s: %s", prefix, old);
    if (last_code == FERRY_ERR_OK)
        last_code = FERRY_ERR_INTERNAL;
    return -1;
}

const char *
ferry_error_message(void)
{
    return last_msg;
}

enum ferry_err
ferry_error_code(void)
{
    return last_code;
}

const char *
ferry_error_code_name(enum ferry_err code)
{
    if ((size_t)code < sizeof code_names / sizeof code_names[0] && code_names[code])
        return code_names[code];
    return "unknown";
}

void
ferry_error_reset(void)
{
    last_code = FERRY_ERR_OK;
    last_msg[0] = '\0';
}

void
ferry_error_save(struct ferry_error_saved *saved)
{
    if (saved->message)
        return;
    saved->code = last_code;
    saved->message = strdup(last_msg);
    if (!saved->message)
        ferry_oom();
}

int
ferry_error_restore(struct ferry_error_saved *saved)
{
    int r = 0;

    if (saved->message && saved->code != FERRY_ERR_OK)
        r = ferry_error(saved->code, "%s", saved->message);
    free(saved->message);
    *saved = (struct ferry_error_saved){ 0 };
    return r;
}

void
ferry_oom(void)
{
    static const char msg[] = "ferry: out of memory\n";

    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
        /* nothing left to try */
    }
    abort();
}
