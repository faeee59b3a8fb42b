/* Small helpers shared by every program: files, descriptors, text encodings. */
#ifndef W_UTIL_H
#define W_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* A pidfd for pid (close-on-exec), readable once it exits; -1 with ENOSYS before
 * Linux 5.3, ESRCH when it is gone. */
int util_pidfd_open(pid_t pid, struct w_error *err);
/* The time t (CLOCK_REALTIME; NULL: now) in UTC as ISO 8601 with `digits` (3 or 9)
 * decimals of a second and a Z: 2026-12-01T22:41:26.123Z. Returns the length (at most
 * UTIL_TIME_ISO_MAX - 1). */
#define UTIL_TIME_ISO_MAX 40
struct timespec;
size_t util_time_iso(char buf[UTIL_TIME_ISO_MAX], const struct timespec *t, int digits);
int util_set_nonblock(int fd, int on, struct w_error *err);
/* Write all of buf (retrying EINTR and short writes). */
int util_write_all(int fd, const void *buf, size_t len, struct w_error *err);
/* One read of what is ready on from, written whole to to (a pty relay step); 0 at EOF
 * or on an error, 1 otherwise (nothing ready counts as 1). */
int util_copy_once(int from, int to);
/* A child that copies from into to until from's EOF (or to breaks), then exits: with
 * tty_eof it first writes the terminal's EOF character (VEOF) to to, a pty master. to may
 * be non-blocking (a pty master shares its flags with its other holders): the child
 * waits with poll. The caller closes its own copy of to when that is the job's EOF.
 * The child dies with its parent (PR_SET_PDEATHSIG). Returns its pid, or -1 (errno). */
pid_t util_feeder(int from, int to, int tty_eof);
/* Put the terminal on stdin in raw mode, remembering how it was; 0, or -1 when stdin is
 * no terminal. util_tty_restore puts it back (safe to call any number of times, and
 * from atexit). */
int util_tty_raw(void);
void util_tty_restore(void);
/* Write path (relative to dirfd, or AT_FDCWD) atomically: temp file, then rename. Readers
 * see the old or the new content, never a part; no fsync: this survives the death of any
 * process (what the depot must survive), a machine crash takes the containers anyway. */
int util_write_file_atomic(int dirfd, const char *path, const void *buf, size_t len,
                           struct w_error *err);
/* Read a whole file up to max bytes; returns a NUL-terminated malloc'd buffer. */
char *util_read_file(int dirfd, const char *path, size_t max, size_t *len, struct w_error *err);
/* 1 if one of the lines in the first max bytes of path is exactly line (no newline in
 * it), else 0 (also when path cannot be read): a hook's "# hook-runner: ..." promise. */
int util_file_has_line(const char *path, const char *line, size_t max);
/* mkdir -p with mode for each created component. */
int util_mkdir_p(const char *path, mode_t mode, struct w_error *err);

/* A size: a number of bytes, or a number with K, KB, M, MB, G, GB, T or TB (powers of
 * 1024, any case). Returns 0 with *out set, -1 when s is not one or overflows. */
int util_parse_size(const char *s, unsigned long long *out);

/* Length of the longest prefix of buf that does not end inside an incomplete UTF-8
 * sequence (bad bytes count as complete: they will be replaced). */
size_t util_utf8_complete_prefix(const char *buf, size_t len);
/* Offset of the first byte of buf that is not strict UTF-8 (overlong forms, surrogates
 * and code points above U+10FFFF are not), or len when all of buf is valid. */
size_t util_utf8_valid_len(const char *buf, size_t len);
/* Copy buf to a malloc'd NUL-terminated string, replacing each invalid UTF-8 byte with
 * U+FFFD; *outlen gets the result length. */
char *util_utf8_sanitize(const char *buf, size_t len, size_t *outlen);
/* Append buf as a JSON string literal (quotes included) to out at *pos: invalid UTF-8
 * bytes become U+FFFD, control characters, quote and backslash are escaped. out must
 * hold util_json_quote_max(len) bytes from *pos on. */
#define util_json_quote_max(len) ((len)*6 + 2)
void util_json_quote(const char *buf, size_t len, char *out, size_t *pos);
/* Base64 (RFC 4648, padded) of buf into out (util_base64_len(len) bytes, no NUL). */
#define util_base64_len(len) (((len) + 2) / 3 * 4)
void util_base64_into(const void *buf, size_t len, char *out);
/* Base64 (RFC 4648, padded) of buf; malloc'd, NUL-terminated. */
char *util_base64(const void *buf, size_t len);
/* Decode padded base64 (no whitespace) into out, which may be in itself (out <= in):
 * at most len / 4 * 3 bytes. Returns the decoded length, or -1 when in is not base64. */
ssize_t util_base64_decode(const char *in, size_t len, void *out);

#endif
