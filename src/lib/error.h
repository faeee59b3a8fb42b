/* One error idiom for every program: fallible functions return -1 (or NULL) and
 * fill a caller-supplied struct w_error. Nothing to free. */
#ifndef W_ERROR_H
#define W_ERROR_H

#include <stddef.h>

struct w_error {
    int errnum;     /* errno of the failing call, 0 if not a syscall failure */
    char msg[1024]; /* complete human-readable message */
};

/* Set err to the formatted message; returns -1 so callers can `return w_err(...)`. */
int w_err(struct w_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like w_err but appends ": strerror(errnum)" (save errno first!). */
int w_errno(struct w_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix context onto an existing error: "ctx: old message". */
int w_err_prefix(struct w_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define W_CLEANUP(f) __attribute__((cleanup(f)))
void w_closep(int *fd);
void w_freep(void *p);
#define w_autofd W_CLEANUP(w_closep) int
#define w_autofree W_CLEANUP(w_freep)

#endif
