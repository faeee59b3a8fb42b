/* Unit tests for the shared library (src/lib): UTF-8 and base64 helpers, files,
 * json helpers, descriptor passing and the wshd message layer. Files go to a mkdtemp
 * directory that is removed at the end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "jsonh.h"
#include "rlimits.h"
#include "spawnp.h"
#include "tap.h"
#include "unixsock.h"
#include "util.h"
#include "wshd_proto.h"

#define FFFD "\xEF\xBF\xBD"

static char tmpdir[] = "/tmp/warden-test-util-XXXXXX";

static void sanitize(const char *in, size_t len, const char *want, size_t wantlen, const char *name)
{
    size_t outlen = 12345;
    char *out = util_utf8_sanitize(in, len, &outlen);

    TAP_IS_MEM(out, outlen, want, wantlen, name);
    free(out);
}
#define SANITIZE(in, want, name) sanitize(in, sizeof(in) - 1, want, sizeof(want) - 1, name)

static void test_utf8_sanitize(void)
{
    SANITIZE("", "", "sanitize: empty");
    SANITIZE("hello, world\n", "hello, world\n", "sanitize: ASCII kept");
    SANITIZE("a\0b", "a\0b", "sanitize: NUL kept");
    SANITIZE("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
             "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
             "sanitize: 2-, 3-, 4-byte sequences and U+10FFFF kept");
    SANITIZE("\xef\xbf\xbd", FFFD, "sanitize: U+FFFD itself kept");
    SANITIZE("a\x80z", "a" FFFD "z", "sanitize: lone continuation byte");
    SANITIZE("\xff", FFFD, "sanitize: 0xFF");
    SANITIZE("\xfe\xff", FFFD FFFD, "sanitize: 0xFE 0xFF");
    SANITIZE("\xc0\x80", FFFD FFFD, "sanitize: overlong NUL C0 80");
    SANITIZE("\xe0\x80\xaf", FFFD FFFD FFFD, "sanitize: overlong E0 80 AF");
    SANITIZE("\xed\xa0\x80", FFFD FFFD FFFD, "sanitize: surrogate ED A0 80");
    SANITIZE("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, "sanitize: above U+10FFFF");
    SANITIZE("\xf5\x80", FFFD FFFD, "sanitize: F5 lead byte");
    SANITIZE("ok\xe2\x82", "ok" FFFD FFFD, "sanitize: truncated sequence at the end");
    SANITIZE("\xe2\x28\xa1", FFFD "(" FFFD, "sanitize: bad continuation keeps the next char");
    SANITIZE("\xc3", FFFD, "sanitize: lone lead byte");
}

/* ASCII is skipped 8 bytes at a time: a bad byte or a sequence at any offset of a
 * longer buffer, inside or across a word, is still seen. */
static void test_utf8_every_offset(void)
{
    char buf[40], want[60], name[80];
    int bad_ok = 1, seq_ok = 1, fix_ok = 1;

    for (size_t at = 0; at + 2 <= sizeof(buf); at++) {
        size_t outlen, wantlen;
        char *out;

        memset(buf, 'a', sizeof(buf));
        buf[at] = (char)0xff;
        if (util_utf8_valid_len(buf, sizeof(buf)) != at)
            bad_ok = 0;
        memcpy(want, buf, at);
        memcpy(want + at, FFFD, 3);
        memcpy(want + at + 3, buf + at + 1, sizeof(buf) - at - 1);
        wantlen = sizeof(buf) + 2;
        out = util_utf8_sanitize(buf, sizeof(buf), &outlen);
        if (out == NULL || outlen != wantlen || memcmp(out, want, wantlen) != 0)
            fix_ok = 0;
        free(out);
        buf[at] = (char)0xc3, buf[at + 1] = (char)0xa9;
        if (util_utf8_valid_len(buf, sizeof(buf)) != sizeof(buf))
            seq_ok = 0;
        if (!bad_ok || !seq_ok || !fix_ok) {
            snprintf(name, sizeof(name), "first failure at offset %zu", at);
            tap_diag("%s", name);
            break;
        }
    }
    TAP_OK(bad_ok, "valid_len: a bad byte at every offset of 40 ASCII bytes is found");
    TAP_OK(seq_ok, "valid_len: a 2-byte sequence at every offset is valid");
    TAP_OK(fix_ok, "sanitize: a bad byte at every offset becomes U+FFFD, the rest kept");
}

static void test_utf8_prefix(void)
{
    static const char *const seqs[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char buf[16], name[128];

    for (size_t s = 0; s < 3; s++) {
        size_t n = strlen(seqs[s]);
        for (size_t cut = 1; cut < n; cut++) {
            memcpy(buf, "ab", 2);
            memcpy(buf + 2, seqs[s], cut);
            snprintf(name, sizeof(name), "complete_prefix: %zu-byte sequence cut after %zu", n,
                     cut);
            TAP_IS_INT(util_utf8_complete_prefix(buf, 2 + cut), 2, name);
        }
        memcpy(buf + 2, seqs[s], n);
        snprintf(name, sizeof(name), "complete_prefix: whole %zu-byte sequence", n);
        TAP_IS_INT(util_utf8_complete_prefix(buf, 2 + n), 2 + n, name);
        memcpy(buf + 2 + n, "\xf0\x9f", 2);
        snprintf(name, sizeof(name), "complete_prefix: %zu-byte sequence then a cut one", n);
        TAP_IS_INT(util_utf8_complete_prefix(buf, 4 + n), 2 + n, name);
    }
    TAP_IS_INT(util_utf8_complete_prefix("", 0), 0, "complete_prefix: empty");
    TAP_IS_INT(util_utf8_complete_prefix("\xe2", 1), 0, "complete_prefix: only a lead byte");
    TAP_IS_INT(util_utf8_complete_prefix("abc\xff", 4), 4, "complete_prefix: bad byte counts");
    TAP_IS_INT(util_utf8_complete_prefix("ab\xe2\x28", 4), 4,
               "complete_prefix: an invalid sequence is not waited for");
    TAP_IS_INT(util_utf8_complete_prefix("ab\x80\x80\x80", 5), 5,
               "complete_prefix: trailing continuation bytes are bad, not incomplete");

    TAP_IS_INT(util_utf8_valid_len("a\xc3\xa9z", 4), 4, "valid_len: valid text");
    TAP_IS_INT(util_utf8_valid_len("ab\xc0\x80", 4), 2, "valid_len: stops at an overlong form");
    TAP_IS_INT(util_utf8_valid_len("ab\xe2\x82", 4), 2, "valid_len: stops at a cut sequence");
    test_utf8_every_offset();
}

static void b64(const void *in, size_t len, const char *want, const char *name)
{
    char *out = util_base64(in, len);

    TAP_IS_STR(out, want, name);
    free(out);
}

static void test_base64(void)
{
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    char name[64];
    unsigned char all[256];
    char *out;

    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        snprintf(name, sizeof(name), "base64 \"%s\" (RFC 4648)", vec[i][0]);
        b64(vec[i][0], strlen(vec[i][0]), vec[i][1], name);
    }
    b64("\x00\xff\xfe\x80", 4, "AP/+gA==", "base64 of binary bytes");
    b64("\x00\x00\x00", 3, "AAAA", "base64 of three NULs");
    b64("\xfb\xff\xbf", 3, "+/+/", "base64 uses + and /");
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    out = util_base64(all, sizeof(all));
    TAP_IS_INT(out ? strlen(out) : 0, 344, "base64 of 256 bytes is 344 characters");
    TAP_OK(out && strncmp(out, "AAECAwQFBgcICQoL", 16) == 0 &&
               strcmp(out + 332, "+fr7/P3+/w==") == 0,
           "base64 of bytes 0..255 starts and ends right");
    free(out);
}

/* util_base64_decode: the RFC vectors back, every byte value and length round trip
 * (also decoding in place), and what is not base64 refused. */
static void test_base64_decode(void)
{
    static const char *const bad[] = {
        "Zg=", "Zg", "Z===", "Zm9v!g==", "Zh==", "Zm9=", "=Zg=", "Zg==Zg==", "Zm 9v", "Zm9vZg=a"};
    unsigned char all[259], back[259];
    char enc[400], name[64];
    int ok = 1;

    TAP_IS_INT(util_base64_decode("", 0, back), 0, "base64 decode of nothing");
    TAP_IS_INT(util_base64_decode("Zm9vYmE=", 8, back), 5, "base64 decode \"Zm9vYmE=\": 5 bytes");
    TAP_OK(memcmp(back, "fooba", 5) == 0, "base64 decode \"Zm9vYmE=\" is fooba");
    TAP_IS_INT(util_base64_decode("Zm9vYg==", 8, back), 4, "base64 decode \"Zm9vYg==\": 4 bytes");
    for (int i = 0; i < 259; i++)
        all[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(all) && ok; n++) {
        util_base64_into(all, n, enc);
        ok = util_base64_decode(enc, util_base64_len(n), back) == (ssize_t)n &&
             memcmp(back, all, n) == 0;
        ok = ok && util_base64_decode(enc, util_base64_len(n), enc) == (ssize_t)n &&
             memcmp(enc, all, n) == 0;
    }
    TAP_OK(ok, "base64 decode round-trips every length 0..259, also in place");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(name, sizeof(name), "base64 decode refuses \"%s\"", bad[i]);
        TAP_IS_INT(util_base64_decode(bad[i], strlen(bad[i]), back), -1, name);
    }
}

/* A plain reference encoder, six bits at a time, to hold the fast paths against. */
static void ref_b64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t bits = n * 8, o = 0;

    for (size_t b = 0; b < bits; b += 6) {
        unsigned v = 0;
        for (size_t k = b; k < b + 6; k++)
            v = v << 1 | (k < bits ? (in[k / 8] >> (7 - k % 8)) & 1u : 0u);
        out[o++] = tab[v];
    }
    while (o % 4)
        out[o++] = '=';
}

/* The vector paths (24 bytes <-> 32 characters a step) agree with the reference at
 * every length around their step sizes and on every byte value, and a bad character
 * anywhere in a long input is refused. */
static void test_base64_long(void)
{
    enum { N = 3000 };
    static unsigned char in[N], back[N];
    static char enc[N * 2], ref[N * 2];
    unsigned seed = 12345;
    int ok = 1;

    for (size_t i = 0; i < N; i++)
        in[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 16);
    for (size_t n = 0; n <= 300 && ok; n++) {
        ref_b64(in, n, ref);
        util_base64_into(in, n, enc);
        ok = memcmp(enc, ref, util_base64_len(n)) == 0 &&
             util_base64_decode(enc, util_base64_len(n), back) == (ssize_t)n &&
             memcmp(back, in, n) == 0;
        if (!ok)
            tap_diag("length %zu", n);
    }
    ref_b64(in, N, ref);
    util_base64_into(in, N, enc);
    ok = ok && memcmp(enc, ref, util_base64_len(N)) == 0 &&
         util_base64_decode(enc, util_base64_len(N), enc) == N && memcmp(enc, in, N) == 0;
    TAP_OK(ok, "base64 of 0..300 and 3000 random bytes matches a reference, and decodes back");
    ok = 1;
    util_base64_into(in, 300, enc);
    for (size_t i = 0; i < 400 && ok; i++) {
        static const char bad[] = {'=', '"', '\n', '-', '_', '\0', ' ', (char)0x80, (char)0xff};
        for (size_t b = 0; b < sizeof(bad) && ok; b++) {
            char save = enc[i];
            if (bad[b] == '=' && i >= 398)
                continue; /* padding there may be right */
            enc[i] = bad[b];
            ok = util_base64_decode(enc, 400, back) == -1;
            if (!ok)
                tap_diag("byte %d at %zu accepted", bad[b], i);
            enc[i] = save;
        }
    }
    TAP_OK(ok, "base64 decode refuses a bad character at every offset of 400");
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_file_has_line(void)
{
    static const char *const L = "# hook-runner: beside setup.sh";
    struct w_error err = {0};
    char path[256];

    snprintf(path, sizeof(path), "%s/hook", tmpdir);
    util_write_file_atomic(AT_FDCWD, path, "#!/bin/bash\n# hook-runner: beside setup.sh\nset -e\n",
                           50, &err);
    TAP_IS_INT(util_file_has_line(path, L, 8192), 1, "file_has_line: a whole line");
    TAP_IS_INT(util_file_has_line(path, L, 20), 0, "file_has_line: only the first max bytes");
    TAP_IS_INT(util_file_has_line(path, "# hook-runner: beside", 8192), 0,
               "file_has_line: a prefix of a line is not the line");
    TAP_IS_INT(util_file_has_line(path, "hook-runner: beside setup.sh", 8192), 0,
               "file_has_line: nor is a suffix");
    util_write_file_atomic(AT_FDCWD, path, "x\n# hook-runner: beside setup.sh", 32, &err);
    TAP_IS_INT(util_file_has_line(path, L, 8192), 1,
               "file_has_line: the last line without a newline");
    TAP_IS_INT(util_file_has_line(path, "", 8192), 0, "file_has_line: an empty line is none");
    unlink(path);
    TAP_IS_INT(util_file_has_line(path, L, 8192), 0, "file_has_line: no file, no line");
}

static void test_files(void)
{
    struct w_error err = {0};
    char path[256], *data, *big;
    size_t len = 0;
    int dirfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;

    if (dirfd < 0)
        TAP_BAIL("open %s: %s", tmpdir, strerror(errno));
    TAP_IS_INT(util_write_file_atomic(dirfd, "f", "hello\0world", 11, &err), 0,
               "write_file_atomic relative to a dirfd");
    data = util_read_file(dirfd, "f", 100, &len, &err);
    TAP_IS_MEM(data, len, "hello\0world", 11, "read_file gives back the same bytes");
    TAP_OK(data && data[len] == '\0', "read_file NUL-terminates");
    free(data);

    TAP_IS_INT(util_write_file_atomic(dirfd, "f", "x", 1, &err), 0, "overwrite with less");
    data = util_read_file(dirfd, "f", 100, &len, &err);
    TAP_IS_MEM(data, len, "x", 1, "the old content is gone");
    free(data);
    TAP_IS_INT(count_entries(tmpdir), 1, "no temp file is left behind");
    TAP_OK(stat(strcat(strcpy(path, tmpdir), "/f"), &st) == 0 && (st.st_mode & 0777) == 0644,
           "the file is mode 0644");

    snprintf(path, sizeof(path), "%s/e", tmpdir);
    TAP_IS_INT(util_write_file_atomic(AT_FDCWD, path, "", 0, &err), 0, "write an empty file");
    data = util_read_file(AT_FDCWD, path, 100, &len, &err);
    TAP_IS_MEM(data, len, "", 0, "read an empty file");
    free(data);

    TAP_IS_INT(util_write_file_atomic(dirfd, "nodir/f", "x", 1, &err), -1,
               "write into a missing directory fails");
    TAP_CONTAINS(err.msg, "nodir/f", "the error names the path");
    TAP_IS_INT(err.errnum, ENOENT, "the error is ENOENT");

    data = util_read_file(dirfd, "missing", 100, &len, &err);
    TAP_OK(data == NULL && err.errnum == ENOENT, "read of a missing file fails with ENOENT");
    TAP_CONTAINS(err.msg, "missing", "the error names the file");

    /* Size caps: exactly max bytes is fine, one more is refused, for several caps. */
    big = malloc(20000);
    if (big == NULL)
        TAP_BAIL("out of memory");
    memset(big, 'x', 20000);
    static const size_t caps[] = {10, 4096, 5000, 8192, 12345};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        char name[128];
        size_t max = caps[i];
        util_write_file_atomic(dirfd, "big", big, max, &err);
        data = util_read_file(dirfd, "big", max, &len, &err);
        snprintf(name, sizeof(name), "read_file: a file of exactly max=%zu bytes is read", max);
        if (!TAP_OK(data && len == max, name))
            tap_diag("error: %s", data ? "wrong length" : err.msg);
        free(data);
        util_write_file_atomic(dirfd, "big", big, max + 1, &err);
        memset(&err, 0, sizeof(err));
        data = util_read_file(dirfd, "big", max, &len, &err);
        snprintf(name, sizeof(name), "read_file: a file of max+1=%zu bytes is refused", max + 1);
        if (!TAP_OK(data == NULL, name))
            tap_diag("read %zu bytes", len);
        free(data);
        snprintf(name, sizeof(name), "read_file: the max=%zu error says why", max);
        TAP_CONTAINS(err.msg, "larger than", name);
    }
    free(big);
    close(dirfd);
}

static void test_mkdir_p(void)
{
    struct w_error err = {0};
    char path[256], file[256];
    struct stat st;

    snprintf(path, sizeof(path), "%s/a/b/c", tmpdir);
    TAP_IS_INT(util_mkdir_p(path, 0700, &err), 0, "mkdir_p nested");
    TAP_OK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
           "mkdir_p made a 0700 directory");
    TAP_IS_INT(util_mkdir_p(path, 0700, &err), 0, "mkdir_p of an existing directory succeeds");
    snprintf(path, sizeof(path), "%s/a/x/y/", tmpdir);
    TAP_IS_INT(util_mkdir_p(path, 0755, &err), 0, "mkdir_p with a trailing slash");
    snprintf(file, sizeof(file), "%s/a/file", tmpdir);
    util_write_file_atomic(AT_FDCWD, file, "", 0, &err);
    snprintf(path, sizeof(path), "%s/a/file/sub", tmpdir);
    TAP_IS_INT(util_mkdir_p(path, 0755, &err), -1, "mkdir_p through a regular file fails");
    TAP_CONTAINS(err.msg, "a/file", "the error names the component");
    TAP_IS_INT(util_mkdir_p("", 0755, &err), -1, "mkdir_p of an empty path fails");
}

static struct json_object *parse(const char *s, struct w_error *err)
{
    memset(err, 0, sizeof(*err));
    return jsonh_parse(s, strlen(s), err);
}

static void test_jsonh(void)
{
    static const char *const bad[] = {"", " ", "{", "{\"a\":}", "1 2", "{} x", "tru", "[1]]"};
    struct w_error err;
    struct json_object *o;
    size_t len;
    char name[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o = parse(bad[i], &err);
        snprintf(name, sizeof(name), "jsonh_parse refuses '%s' with a message", bad[i]);
        TAP_OK(o == NULL && err.msg[0] != '\0', name);
        json_object_put(o);
    }
    o = parse(" {\"a\":1} \n\t", &err);
    TAP_OK(o != NULL, "jsonh_parse allows surrounding whitespace");
    json_object_put(o);

    o = parse("{\"s\":\"str\",\"i\":1099511627776,\"b\":true,\"n\":null,\"d\":1.5,\"p\":\"a/b\"}",
              &err);
    if (o == NULL)
        TAP_BAIL("jsonh_parse: %s", err.msg);
    TAP_IS_STR(jsonh_get_str(o, "s", "dflt"), "str", "get_str of a string");
    TAP_IS_STR(jsonh_get_str(o, "i", "dflt"), "dflt", "get_str of an int gives the default");
    TAP_IS_STR(jsonh_get_str(o, "zz", "dflt"), "dflt", "get_str of a missing key");
    TAP_OK(jsonh_get_str(o, "n", NULL) == NULL, "get_str of null gives the default");
    TAP_IS_INT(jsonh_get_int(o, "i", -7), 1099511627776LL, "get_int of a 64-bit int");
    TAP_IS_INT(jsonh_get_int(o, "s", -7), -7, "get_int of a string gives the default");
    TAP_IS_INT(jsonh_get_int(o, "d", -7), -7, "get_int of a double gives the default");
    TAP_IS_INT(jsonh_get_int(o, "zz", -7), -7, "get_int of a missing key");
    TAP_IS_INT(jsonh_get_bool(o, "b", 0), 1, "get_bool of true");
    TAP_IS_INT(jsonh_get_bool(o, "i", 2), 2, "get_bool of an int gives the default");
    TAP_OK(jsonh_get(o, "n") == NULL, "get of a null member is NULL");
    TAP_OK(jsonh_get(NULL, "s") == NULL, "get on NULL is NULL");
    TAP_IS_STR(jsonh_str(jsonh_get(o, "p"), &len), "\"a/b\"", "jsonh_str does not escape /");
    json_object_put(o);

    o = parse("[\"s\"]", &err);
    TAP_OK(jsonh_get(o, "s") == NULL, "get on an array is NULL");
    TAP_IS_INT(jsonh_get_int(o, "s", 3), 3, "get_int on an array gives the default");
    json_object_put(o);
}

static int count_fds(void)
{
    return count_entries("/proc/self/fd") - 1; /* minus the one opendir holds */
}

static int is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

static void seqpacket_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        TAP_BAIL("socketpair: %s", strerror(errno));
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void test_fdpass(void)
{
    struct w_error err = {0};
    int sv[2], p[2], nul, send_fds[3], got[FDPASS_MAX], n, before;
    char buf[64], c = 0;
    ssize_t r;

    seqpacket_pair(sv);
    if (pipe(p) < 0 || (nul = open("/dev/null", O_RDWR)) < 0) /* deliberately not CLOEXEC */
        TAP_BAIL("pipe/open: %s", strerror(errno));
    send_fds[0] = p[0];
    send_fds[1] = p[1];
    send_fds[2] = nul;

    TAP_IS_INT(fdpass_send(sv[0], "hello", 5, send_fds, 3, &err), 0, "fdpass_send with 3 fds");
    n = FDPASS_MAX;
    r = fdpass_recv(sv[1], buf, sizeof(buf), got, &n, &err);
    TAP_IS_MEM(buf, r > 0 ? (size_t)r : 0, "hello", 5, "fdpass_recv gets the payload");
    TAP_IS_INT(n, 3, "fdpass_recv gets 3 fds");
    TAP_OK(n == 3 && is_cloexec(got[0]) && is_cloexec(got[1]) && is_cloexec(got[2]),
           "every received fd is CLOEXEC");
    TAP_OK(n == 3 && write(got[1], "z", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'z',
           "the received pipe end is usable");
    if (n > 0)
        close_all(got, n);

    /* Room for only one: the other two must be closed, not leaked. */
    before = count_fds();
    fdpass_send(sv[0], "x", 1, send_fds, 3, &err);
    n = 1;
    r = fdpass_recv(sv[1], buf, sizeof(buf), got, &n, &err);
    TAP_IS_INT(r, 1, "fdpass_recv with room for 1 fd still gets the payload");
    TAP_IS_INT(n, 1, "... and reports 1 fd");
    TAP_IS_INT(count_fds(), before + 1, "... and the 2 extra fds are closed");
    if (n > 0)
        close_all(got, n);

    before = count_fds();
    fdpass_send(sv[0], "y", 1, send_fds, 2, &err);
    r = fdpass_recv(sv[1], buf, sizeof(buf), NULL, NULL, &err);
    TAP_IS_INT(r, 1, "fdpass_recv with no room for fds");
    TAP_IS_INT(count_fds(), before, "... closes every fd that arrived");

    /* A payload larger than the buffer is an error, and its fds are closed. */
    memset(buf, 'a', sizeof(buf));
    before = count_fds();
    fdpass_send(sv[0], buf, sizeof(buf), send_fds, 3, &err);
    n = FDPASS_MAX;
    r = fdpass_recv(sv[1], buf, 10, got, &n, &err);
    TAP_IS_INT(r, -1, "a truncated payload is an error");
    TAP_CONTAINS(err.msg, "truncated", "... saying so");
    TAP_IS_INT(err.errnum, EMSGSIZE, "... with EMSGSIZE, so callers need not read the text");
    TAP_IS_INT(n, 0, "... with no fds handed out");
    TAP_IS_INT(count_fds(), before, "... and none leaked");

    TAP_IS_INT(fdpass_send(sv[0], "z", 1, send_fds, FDPASS_MAX + 1, &err), -1,
               "sending more than FDPASS_MAX fds is refused");

    close(sv[0]);
    n = FDPASS_MAX;
    TAP_IS_INT(fdpass_recv(sv[1], buf, sizeof(buf), got, &n, &err), 0, "EOF reads 0");
    close(sv[1]);
    close_all(send_fds, 3);
}

static void test_wshd_msgs(void)
{
    struct w_error err = {0};
    int sv[2], p[2], got[FDPASS_MAX], n, before;
    struct json_object *msg, *back;
    size_t big = 500 * 1024;
    char *s = malloc(big + 1);

    if (s == NULL)
        TAP_BAIL("out of memory");
    for (size_t i = 0; i < big; i++)
        s[i] = (char)('a' + i % 26);
    s[big] = '\0';
    seqpacket_pair(sv);
    if (pipe2(p, O_CLOEXEC) < 0)
        TAP_BAIL("pipe: %s", strerror(errno));

    msg = json_object_new_object();
    json_object_object_add(msg, "type", json_object_new_string("spawn"));
    json_object_object_add(msg, "script", json_object_new_string(s));
    json_object_object_add(msg, "n", json_object_new_int(42));
    if (!TAP_IS_INT(wshd_send(sv[0], msg, p, 2, &err), 0, "wshd_send of a 500 KB message"))
        tap_diag("error: %s", err.msg);
    n = FDPASS_MAX;
    back = wshd_recv(sv[1], got, &n, &err);
    if (!TAP_OK(back != NULL, "wshd_recv gets it"))
        tap_diag("error: %s", err.msg);
    TAP_IS_STR(jsonh_get_str(back, "type", NULL), "spawn", "... with its type");
    TAP_OK(strcmp(jsonh_get_str(back, "script", ""), s) == 0, "... and the whole 500 KB string");
    TAP_IS_INT(jsonh_get_int(back, "n", 0), 42, "... and its number");
    TAP_IS_INT(n, 2, "... and its 2 fds");
    close_all(got, n);
    json_object_put(back);
    json_object_put(msg);

    /* A message that is JSON but not an object: NULL, fds closed. */
    before = count_fds();
    fdpass_send(sv[0], "[1]", 3, p, 2, &err);
    n = FDPASS_MAX;
    back = wshd_recv(sv[1], got, &n, &err);
    TAP_OK(back == NULL, "wshd_recv refuses a non-object");
    TAP_IS_INT(n, 0, "... reports no fds");
    TAP_IS_INT(count_fds(), before, "... and closes the ones that came with it");

    close(sv[0]);
    memset(&err, 0, sizeof(err));
    back = wshd_recv(sv[1], NULL, NULL, &err);
    TAP_OK(back == NULL, "wshd_recv at EOF gives NULL");
    TAP_IS_INT(err.errnum, EPIPE, "... with errnum EPIPE");
    close(sv[1]);
    close_all(p, 2);
    free(s);
}

/* util_json_quote against json-c's own parser: what it writes must parse back to the
 * sanitized bytes. */
static void quote(const char *in, size_t len, const char *want, const char *name)
{
    char out[256];
    size_t pos = 0;
    struct w_error err;
    struct json_object *o;

    util_json_quote(in, len, out, &pos);
    TAP_IS_MEM(out, pos, want, strlen(want), name);
    o = jsonh_parse(out, pos, &err);
    TAP_OK(o != NULL && json_object_is_type(o, json_type_string), "json-c parses the quoted form");
    json_object_put(o);
}

static void test_json_quote(void)
{
    char big[4096], *out;
    size_t pos = 3;

    quote("abc", 3, "\"abc\"", "quote: plain ASCII");
    quote("a\"b\\c", 5, "\"a\\\"b\\\\c\"", "quote: quote and backslash escaped");
    quote("l1\nl2\t\r", 7, "\"l1\\nl2\\t\\r\"", "quote: newline, tab, CR");
    quote("\0\x01\x1f", 3, "\"\\u0000\\u0001\\u001f\"", "quote: control bytes as \\u00XX");
    quote("\xc3\xa9\xe2\x82\xac", 5, "\"\xc3\xa9\xe2\x82\xac\"", "quote: valid UTF-8 kept");
    quote("a\xff"
          "b",
          3,
          "\"a\xef\xbf\xbd"
          "b\"",
          "quote: a bad byte becomes U+FFFD");
    quote("\xe2\x82", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"", "quote: a cut sequence, byte by byte");
    /* The worst case fits the advertised bound, and *pos is an offset into out. */
    memset(big, 1, sizeof(big));
    out = malloc(3 + util_json_quote_max(sizeof(big)));
    util_json_quote(big, sizeof(big), out, &pos);
    TAP_IS_INT((long long)pos, (long long)(3 + sizeof(big) * 6 + 2), "quote: worst case size");
    free(out);
}

static void test_base64_into(void)
{
    char out[16];

    memset(out, '#', sizeof(out));
    util_base64_into("foob", 4, out);
    TAP_IS_MEM(out, util_base64_len(4), "Zm9vYg==", 8, "base64_into: padded output");
    TAP_OK(out[8] == '#', "base64_into: writes exactly util_base64_len bytes");
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void test_unixsock(void)
{
    struct w_error err = {0};
    char path[256], longp[200];
    struct stat st;
    int l, c, stale;

    snprintf(path, sizeof(path), "%s/s.sock", tmpdir);
    /* A stale socket at the path is replaced. */
    stale = unixsock_listen(path, SOCK_STREAM, 0600, 4, &err);
    TAP_OK(stale >= 0, "unixsock_listen on a fresh path");
    close(stale);
    l = unixsock_listen(path, SOCK_STREAM, 0640, 4, &err);
    TAP_OK(l >= 0, "unixsock_listen over a stale socket");
    TAP_OK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0640,
           "... the socket has the mode asked for");
    TAP_OK(l >= 0 && is_cloexec(l), "... and is CLOEXEC");
    c = unixsock_connect(path, SOCK_STREAM, &err);
    TAP_OK(c >= 0 && is_cloexec(c), "unixsock_connect reaches it, CLOEXEC");
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    unlink(path);
    TAP_IS_INT(unixsock_connect(path, SOCK_STREAM, &err), -1, "connect to a missing socket fails");
    TAP_CONTAINS(err.msg, "connect to ", "... naming the call");
    TAP_CONTAINS(err.msg, path, "... and the path");
    TAP_IS_INT(err.errnum, ENOENT, "... with its errno");
    memset(longp, 'x', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    TAP_IS_INT(unixsock_listen(longp, SOCK_STREAM, 0600, 4, &err), -1,
               "a path too long is refused");
    TAP_CONTAINS(err.msg, "too long", "... saying so");
    snprintf(path, sizeof(path), "%s/no-such-dir/s.sock", tmpdir);
    TAP_IS_INT(unixsock_listen(path, SOCK_STREAM, 0600, 4, &err), -1,
               "bind in a missing dir fails");
    TAP_CONTAINS(err.msg, "bind ", "... naming bind");
}

static void test_rlimits(void)
{
    TAP_IS_INT(rlimits_resource("nofile"), RLIMIT_NOFILE, "rlimits: nofile");
    TAP_IS_INT(rlimits_resource("as"), RLIMIT_AS, "rlimits: as");
    TAP_IS_INT(rlimits_resource("stack"), RLIMIT_STACK, "rlimits: stack");
    TAP_IS_INT(rlimits_resource("NOFILE"), -1, "rlimits: names are lower case");
    TAP_IS_INT(rlimits_resource("bogus"), -1, "rlimits: an unknown name");
}

static void test_spawnp(void)
{
    struct w_error err = {0};
    /* The child checks itself: only 0-2 open (ls adds its own 3), none of signals 1-31
     * blocked or ignored (glibc keeps its own two above them), its own process group
     * (field 5 of /proc/PID/stat), stdin empty. */
    char *argv[] = {"/bin/sh", "-c",
                    "[ \"$(ls /proc/self/fd | wc -l)\" -eq 4 ] || exit 3; "
                    "b=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status); "
                    "[ $((0x$b & 0x7fffffff)) -eq 0 ] || exit 4; "
                    "i=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status); "
                    "[ $((0x$i & 0x7fffffff)) -eq 0 ] || exit 5; "
                    "[ \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$ ] || exit 6; "
                    "read x; [ -z \"$x\" ] || exit 7; echo out; echo err >&2",
                    NULL};
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    char outp[256], errp[256], *text;
    struct spawnp sp = {.path = "/bin/sh", .argv = argv, .envp = env, .pgroup = 1};
    sigset_t block, old;
    int out, er, status = -1, leak;
    pid_t pid;

    snprintf(outp, sizeof(outp), "%s/spawn.out", tmpdir);
    snprintf(errp, sizeof(errp), "%s/spawn.err", tmpdir);
    out = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    er = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    leak = open("/dev/null", O_RDONLY); /* not CLOEXEC: the child must not get it */
    sp.fd[0] = SPAWNP_NULL;
    sp.fd[1] = out;
    sp.fd[2] = er;
    /* What the caller blocks and ignores must not reach the child. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    signal(SIGUSR1, SIG_IGN);
    pid = spawnp_start(&sp, &err);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    TAP_OK(pid > 0, "spawnp_start starts the program");
    if (pid > 0)
        waitpid(pid, &status, 0);
    TAP_IS_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
               "... only 0-2 open, no signal blocked or ignored, own process group, stdin empty");
    text = util_read_file(AT_FDCWD, outp, 100, NULL, &err);
    TAP_IS_STR(text, "out\n", "... stdout where asked");
    free(text);
    text = util_read_file(AT_FDCWD, errp, 100, NULL, &err);
    TAP_IS_STR(text, "err\n", "... stderr where asked");
    free(text);
    sp.path = "/nonexistent/prog";
    TAP_IS_INT(spawnp_start(&sp, &err), -1, "a missing program fails");
    TAP_CONTAINS(err.msg, "posix_spawn /nonexistent/prog", "... naming the call and the path");
    TAP_IS_INT(err.errnum, ENOENT, "... with its errno");
    close(out);
    close(er);
    close(leak);
}

static void test_parse_size(void)
{
    static const struct {
        const char *in;
        unsigned long long want;
    } good[] = {{"0", 0},           {"123", 123},           {"64k", 65536},
                {"64KB", 65536},    {"16M", 16777216},      {"16mb", 16777216},
                {"1G", 1073741824}, {"2gB", 2147483648ULL}, {"1T", 1099511627776ULL}};
    static const char *const bad[] = {"",
                                      "M",
                                      "-1",
                                      "1.5M",
                                      "12XB",
                                      "1MM",
                                      "1 M",
                                      "64KiB",
                                      "99999999999999999999",
                                      "17179869184G"};
    unsigned long long v;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        v = 42;
        TAP_OK(util_parse_size(good[i].in, &v) == 0 && v == good[i].want, good[i].in);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        TAP_OK(util_parse_size(bad[i], &v) < 0, bad[i]);
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        TAP_BAIL("mkdtemp: %s", strerror(errno));
    test_utf8_sanitize();
    test_utf8_prefix();
    test_base64();
    test_base64_decode();
    test_base64_long();
    test_base64_into();
    test_json_quote();
    test_files();
    test_file_has_line();
    test_mkdir_p();
    test_jsonh();
    test_fdpass();
    test_wshd_msgs();
    test_unixsock();
    test_rlimits();
    test_spawnp();
    test_parse_size();
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
