#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int w_err(struct w_error *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->errnum = 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int w_errno(struct w_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
    err->errnum = errnum;
    return -1;
}

int w_err_prefix(struct w_error *err, const char *fmt, ...)
{
    char old[sizeof(err->msg)];
    va_list ap;
    size_t n;

    if (err == NULL)
        return -1;
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", old);
    return -1;
}

void w_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
    *fd = -1;
}

void w_freep(void *p)
{
    free(*(void **)p);
}
