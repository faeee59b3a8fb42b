/* A tiny header-only TAP producer for the C unit tests. Each test binary prints
 * `ok N - name` / `not ok N - name` on stdout (with `# ...` diagnostics on failure),
 * the plan `1..N` at the end, and returns non-zero from tap_done() if anything failed.
 * t/run runs every $BUILD/t/unit/test_* and counts the lines. */
#ifndef W_TAP_H
#define W_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((unused)) static void tap_diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
__attribute__((unused)) static void tap_diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

/* Print one result; returns cond so callers can add diagnostics on failure. */
__attribute__((unused)) static int tap_result(int cond, const char *file, int line,
                                              const char *name)
{
    tap_n++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, name);
    if (!cond) {
        tap_failed++;
        printf("# failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

/* A readable rendering of up to 200 bytes: C escapes for control and non-ASCII bytes. */
__attribute__((unused)) static const char *tap_quote(const char *s, size_t len, char *buf,
                                                     size_t size)
{
    size_t o = 0;

    if (s == NULL)
        return "(null)";
    buf[o++] = '"';
    for (size_t i = 0; i < len && i < 200 && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            o += (size_t)snprintf(buf + o, size - o, "\\n");
        else if (c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (len > 200 && o + 4 < size)
        o += (size_t)snprintf(buf + o, size - o, "...");
    if (o + 2 <= size)
        buf[o++] = '"';
    buf[o < size ? o : size - 1] = '\0';
    return buf;
}

__attribute__((unused)) static int tap_is_mem(const char *got, size_t gotlen, const char *want,
                                              size_t wantlen, const char *file, int line,
                                              const char *name)
{
    int cond = got != NULL && want != NULL && gotlen == wantlen && memcmp(got, want, gotlen) == 0;
    char b1[1024], b2[1024];

    if (!tap_result(cond, file, line, name)) {
        tap_diag("expected %s", tap_quote(want, wantlen, b1, sizeof(b1)));
        tap_diag("     got %s", tap_quote(got, got ? gotlen : 0, b2, sizeof(b2)));
    }
    return cond;
}

__attribute__((unused)) static int tap_is_str(const char *got, const char *want, const char *file,
                                              int line, const char *name)
{
    return tap_is_mem(got, got ? strlen(got) : 0, want, want ? strlen(want) : 0, file, line, name);
}

__attribute__((unused)) static int tap_is_int(long long got, long long want, const char *file,
                                              int line, const char *name)
{
    if (!tap_result(got == want, file, line, name)) {
        tap_diag("expected %lld", want);
        tap_diag("     got %lld", got);
        return 0;
    }
    return 1;
}

__attribute__((unused)) static int tap_contains(const char *got, const char *needle,
                                                const char *file, int line, const char *name)
{
    int cond = got != NULL && strstr(got, needle) != NULL;

    if (!tap_result(cond, file, line, name)) {
        tap_diag("expected a string containing \"%s\"", needle);
        tap_diag("     got \"%s\"", got ? got : "(null)");
    }
    return cond;
}

#define TAP_OK(cond, name) tap_result(!!(cond), __FILE__, __LINE__, (name))
#define TAP_IS_STR(got, want, name) tap_is_str((got), (want), __FILE__, __LINE__, (name))
#define TAP_IS_MEM(got, gotlen, want, wantlen, name)                                               \
    tap_is_mem((got), (gotlen), (want), (wantlen), __FILE__, __LINE__, (name))
#define TAP_IS_INT(got, want, name)                                                                \
    tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, (name))
#define TAP_CONTAINS(got, needle, name) tap_contains((got), (needle), __FILE__, __LINE__, (name))
/* Stop the whole binary: a prerequisite failed and the rest cannot run meaningfully. */
#define TAP_BAIL(...)                                                                              \
    do {                                                                                           \
        printf("Bail out! ");                                                                      \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        exit(1);                                                                                   \
    } while (0)

/* Print the plan; the return value is main's exit status. */
__attribute__((unused)) static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_failed)
        printf("# %d of %d tests failed\n", tap_failed, tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#endif
