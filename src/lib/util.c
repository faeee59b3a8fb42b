#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same on every architecture */
#endif

int util_pidfd_open(pid_t pid, struct w_error *err)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by definition */

    if (fd < 0)
        return w_errno(err, errno, "pidfd_open of pid %ld", (long)pid);
    return fd;
}

int util_set_nonblock(int fd, int on, struct w_error *err)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return w_errno(err, errno, "fcntl F_GETFL on fd %d", fd);
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, fl) < 0)
        return w_errno(err, errno, "fcntl F_SETFL on fd %d", fd);
    return 0;
}

int util_write_all(int fd, const void *buf, size_t len, struct w_error *err)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return w_errno(err, errno, "write to fd %d", fd);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int util_write_file_atomic(int dirfd, const char *path, const void *buf, size_t len,
                           struct w_error *err)
{
    char tmp[4096];
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return w_err(err, "path too long: %s", path);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return w_errno(err, errno, "open %s", tmp);
    if (util_write_all(fd, buf, len, err) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return w_errno(err, e, "write %s", tmp);
    }
    /* A full filesystem may show only here (NFS, delayed allocation): never rename a
     * file that may be short. */
    if (close(fd) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return w_errno(err, e, "close %s", tmp);
    }
    if (renameat(dirfd, tmp, dirfd, path) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return w_errno(err, e, "rename %s to %s", tmp, path);
    }
    return 0;
}

int util_file_has_line(const char *path, const char *line, size_t max)
{
    size_t len = strlen(line), n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0;
    char *buf = fd >= 0 ? malloc(max + 1) : NULL, *p;
    ssize_t r;

    while (buf != NULL && n < max &&
           ((r = read(fd, buf + n, max - n)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            n += (size_t)r;
    if (fd >= 0)
        close(fd);
    if (buf == NULL)
        return 0;
    buf[n] = '\0';
    for (p = buf; len > 0 && (p = strstr(p, line)) != NULL; p++)
        if ((p == buf || p[-1] == '\n') && (p[len] == '\n' || p + len == buf + n)) {
            found = 1;
            break;
        }
    free(buf);
    return found;
}

char *util_read_file(int dirfd, const char *path, size_t max, size_t *len, struct w_error *err)
{
    size_t cap = 4096, n = 0;
    char *buf;
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        w_errno(err, errno, "open %s", path);
        return NULL;
    }
    buf = malloc(cap + 1);
    while (buf) {
        ssize_t r;
        if (n == cap) {
            char *nb;
            if (n > max) {
                free(buf);
                close(fd);
                w_err(err, "%s is larger than %zu bytes", path, max);
                return NULL;
            }
            cap = cap < max / 2 ? cap * 2 : max + 1; /* one byte more shows a larger file */
            nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            w_errno(err, e, "read %s", path);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        w_err(err, "read %s: out of memory", path);
        return NULL;
    }
    if (n > max) {
        free(buf);
        w_err(err, "%s is larger than %zu bytes", path, max);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int util_mkdir_p(const char *path, mode_t mode, struct w_error *err)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return w_err(err, "mkdir: bad path '%s'", path);
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) < 0 && errno != EEXIST)
                return w_errno(err, errno, "mkdir %s", buf);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

/* Length of a valid UTF-8 sequence at p (1..4), 0 if invalid, -1 if it is a valid
 * start that is cut off by the end of the buffer. */
static int utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= left)
            return -1;
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF))
            return 0;
    }
    return need + 1;
}

/* The end of the run of ASCII bytes at p[i..len), checked 8 bytes at a time: job
 * output and requests are mostly ASCII, and a call per byte dominated big replies. */
static size_t ascii_run(const unsigned char *p, size_t i, size_t len)
{
    uint64_t w;

    while (i + 8 <= len) {
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL)
            break;
        i += 8;
    }
    while (i < len && p[i] < 0x80)
        i++;
    return i;
}

size_t util_utf8_complete_prefix(const char *buf, size_t len)
{
    /* Only the last 3 bytes can start a cut-off sequence. */
    size_t start = len > 3 ? len - 3 : 0;

    for (size_t i = start; i < len; i++) {
        int k = utf8_seq((const unsigned char *)buf + i, len - i);
        if (k < 0)
            return i;
        if (k > 1)
            i += (size_t)k - 1;
    }
    return len;
}

size_t util_utf8_valid_len(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;

    for (size_t i = ascii_run(p, 0, len); i < len; i = ascii_run(p, i, len)) {
        int k = utf8_seq(p + i, len - i);
        if (k <= 0)
            return i;
        i += (size_t)k;
    }
    return len;
}

char *util_utf8_sanitize(const char *buf, size_t len, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)buf;
    char *out = malloc(len * 3 + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        size_t a = ascii_run(p, i, len);
        int k;
        if (a > i) {
            memcpy(out + o, p + i, a - i);
            o += a - i;
            i = a;
            continue;
        }
        k = utf8_seq(p + i, len - i);
        if (k > 0) {
            memcpy(out + o, p + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

void util_json_quote(const char *buf, size_t len, char *out, size_t *pos)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)buf;
    char *o = out + *pos;

    *o++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        int k;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* the common case */
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x20 || c == '"' || c == '\\') {
            *o++ = '\\';
            switch (c) {
            case '"':
                *o++ = '"';
                break;
            case '\\':
                *o++ = '\\';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\t':
                *o++ = 't';
                break;
            case '\r':
                *o++ = 'r';
                break;
            default:
                *o++ = 'u', *o++ = '0', *o++ = '0';
                *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        k = utf8_seq(p + i, len - i);
        if (k > 0) {
            memcpy(o, p + i, (size_t)k);
            o += k;
            i += (size_t)k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    *o++ = '"';
    *pos = (size_t)(o - out);
}

int util_parse_size(const char *s, unsigned long long *out)
{
    static const char units[] = "KMGT";
    unsigned long long n = 0, mult = 1;
    const char *p = s, *u;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
            return -1;
        n = n * 10 + (unsigned)(*p - '0');
    }
    if (*p != '\0') {
        char c = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        if ((u = strchr(units, c)) == NULL || c == '\0')
            return -1;
        for (const char *q = units; q <= u; q++)
            mult *= 1024;
        p++;
        if (*p == 'b' || *p == 'B')
            p++;
        if (*p != '\0')
            return -1;
    }
    if (n > ULLONG_MAX / mult)
        return -1;
    *out = n * mult;
    return 0;
}

int util_copy_once(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0)
        return 0;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 0;
        off += w;
    }
    return 1;
}

pid_t util_feeder(int from, int to, int tty_eof)
{
    static char buf[65536];
    pid_t parent = getpid(), pid = fork();

    if (pid != 0)
        return pid;
    /* It outlives no parent (a keeper killed by delete --force, a CLI killed by -9): it
     * would sit on the stdin it reads. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(0);
    /* Signals meant for the parent (its terminal's ^C, a forwarder's handlers) are not
     * this child's business: default dispositions. */
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        ssize_t n = read(from, buf, sizeof(buf)), off = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        while (off < n) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EAGAIN) {
                struct pollfd p = {.fd = to, .events = POLLOUT};
                (void)poll(&p, 1, -1);
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                _exit(0); /* the reader closed its end, or the pty is gone */
            off += w;
        }
    }
    if (tty_eof) {
        struct termios t;
        char c = 4;
        if (tcgetattr(to, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
            c = (char)t.c_cc[VEOF];
        (void)!write(to, &c, 1);
    }
    _exit(0);
}

static struct termios tty_saved;
static int tty_is_saved;

int util_tty_raw(void)
{
    struct termios t;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &tty_saved) < 0)
        return -1;
    tty_is_saved = 1;
    t = tty_saved;
    cfmakeraw(&t);
    tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
    return 0;
}

void util_tty_restore(void)
{
    if (tty_is_saved)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &tty_saved);
    tty_is_saved = 0;
}

size_t util_time_iso(char buf[UTIL_TIME_ISO_MAX], const struct timespec *t, int digits)
{
    struct timespec now;
    struct tm tm;
    size_t n;

    if (t == NULL) {
        clock_gettime(CLOCK_REALTIME, &now);
        t = &now;
    }
    gmtime_r(&t->tv_sec, &tm);
    n = strftime(buf, UTIL_TIME_ISO_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
    if (digits == 9)
        n += (size_t)snprintf(buf + n, UTIL_TIME_ISO_MAX - n, ".%09ldZ", t->tv_nsec);
    else
        n += (size_t)snprintf(buf + n, UTIL_TIME_ISO_MAX - n, ".%03ldZ", t->tv_nsec / 1000000);
    return n;
}
