/* Unit tests for copy in/out's tree stream (src/lib/copytree.h): a pack/unpack round
 * trip, and streams no honest sender makes -- what a compromised container half could
 * send to the host. Each hostile stream must be refused, and the directory beside the
 * destination ("outside") must stay empty. Everything lives in a mkdtemp directory that
 * is removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copytree.h"
#include "tap.h"

static char tmpdir[] = "/tmp/warden-test-copytree-XXXXXX";
static char dst[4200], outside[4200];
static unsigned char stream[1 << 16];
static size_t slen;

static void rec(char type, unsigned mode, const char *name, const char *data, size_t dlen)
{
    struct copy_hdr h = {.type = type,
                         .mode = mode,
                         .size = dlen,
                         .mtime_sec = 1000000000,
                         .name_len = name ? (uint32_t)strlen(name) : 0};

    copy_hdr_encode(&h, stream + slen);
    slen += COPY_HDR_LEN;
    if (name) {
        memcpy(stream + slen, name, strlen(name));
        slen += strlen(name);
    }
    if (dlen) {
        memcpy(stream + slen, data, dlen);
        slen += dlen;
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void reset(void)
{
    char path[4300];

    snprintf(path, sizeof(path), "%s/d", tmpdir);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(outside, 0755);
    slen = 0;
}

/* Unpack the stream built so far into dst; returns copy_unpack's result. */
static int unpack(const struct copy_unpack_opts *o, struct w_error *err)
{
    char path[4300];
    int fd, rc;

    snprintf(path, sizeof(path), "%s/stream", tmpdir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (write(fd, stream, slen) != (ssize_t)slen)
        return -2;
    lseek(fd, 0, SEEK_SET);
    rc = copy_unpack(fd, dst, o, err);
    close(fd);
    return rc;
}

static int outside_empty(void)
{
    struct stat st;
    char path[4300];

    snprintf(path, sizeof(path), "%s/x", outside);
    return stat(outside, &st) == 0 && st.st_nlink == 2 && access(path, F_OK) < 0;
}

static const struct copy_unpack_opts plain = {.uid = (uid_t)-1, .gid = (gid_t)-1};

static void hostile(const char *name)
{
    struct w_error err = {0};
    int rc = unpack(&plain, &err);

    TAP_OK(rc == -1, name);
    tap_diag("%s", rc == -1 ? err.msg : "unpack succeeded");
    TAP_OK(outside_empty(), "... and nothing was written outside");
}

static void roundtrip(void)
{
    struct copy_unpack_opts o = {.strip_suid = 1, .uid = 4242, .gid = 4343};
    char src[4300], path[4300], buf[64];
    struct w_error err = {0};
    struct stat st;
    int fd, p[2];
    ssize_t n;

    snprintf(src, sizeof(src), "%s/src", tmpdir);
    mkdir(src, 0750);
    snprintf(path, sizeof(path), "%s/src/f", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    n = write(fd, "data\n", 5);
    close(fd);
    chmod(path, 04755);
    snprintf(path, sizeof(path), "%s/src/l", tmpdir);
    TAP_OK(n == 5 && symlink("../../outside/x", path) == 0, "source tree made");
    /* Through a pipe, as the real halves do (splice on both ends). */
    TAP_OK(pipe(p) == 0, "pipe");
    slen = 0;
    if (fork() == 0) {
        close(p[0]);
        _exit(copy_pack(p[1], src, &err) < 0 ? 1 : 0);
    }
    close(p[1]);
    TAP_OK(copy_unpack(p[0], dst, &o, &err) == 0, "pack | unpack through a pipe");
    if (err.msg[0])
        tap_diag("%s", err.msg);
    close(p[0]);
    snprintf(path, sizeof(path), "%s/src/f", dst);
    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    TAP_OK(n == 5 && memcmp(buf, "data\n", 5) == 0, "content arrives");
    TAP_OK(fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0755, "setuid stripped, mode kept");
    TAP_OK(st.st_uid == 4242 && st.st_gid == 4343, "owner applied to the file");
    close(fd);
    snprintf(path, sizeof(path), "%s/src/l", dst);
    n = readlink(path, buf, sizeof(buf));
    TAP_OK(n == 15 && memcmp(buf, "../../outside/x", 15) == 0, "a link stays a link");
    TAP_OK(lstat(path, &st) == 0 && st.st_uid == 4242, "owner applied to the link");
    snprintf(path, sizeof(path), "%s/src", dst);
    TAP_OK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0750 && st.st_uid == 4242,
           "directory mode and owner");
    TAP_OK(outside_empty(), "the link was not followed");
}

int main(void)
{
    char big[COPY_NAME_MAX + 2];

    if (mkdtemp(tmpdir) == NULL)
        return 1;
    snprintf(dst, sizeof(dst), "%s/d", tmpdir);
    snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
    reset();
    roundtrip();

    static const char *const bad_first[] = {"..", "../x", "/abs", "a/b", "", "./x"};
    for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
        char name[128];
        reset();
        rec('D', 0755, bad_first[i], NULL, 0);
        rec('Z', 0, NULL, NULL, 0);
        snprintf(name, sizeof(name), "first name \"%s\" refused", bad_first[i]);
        hostile(name);
    }
    static const char *const bad_next[] = {
        "t/../../outside/x", "t/../x", "t//x", "t/./x", "other", "t/", "/t/x", "t/..", "tx/y"};
    for (size_t i = 0; i < sizeof(bad_next) / sizeof(bad_next[0]); i++) {
        char name[128];
        reset();
        rec('D', 0755, "t", NULL, 0);
        rec('F', 0644, bad_next[i], "x", 1);
        rec('Z', 0, NULL, NULL, 0);
        snprintf(name, sizeof(name), "later name \"%s\" refused", bad_next[i]);
        hostile(name);
    }

    reset();
    rec('D', 0755, "t", NULL, 0);
    rec('L', 0777, "t/l", outside, strlen(outside));
    rec('F', 0644, "t/l/x", "x", 1);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a file through a link the stream made is refused");

    reset();
    rec('D', 0755, "t", NULL, 0);
    rec('L', 0777, "t/l", outside, strlen(outside));
    rec('D', 0755, "t/l/sub", NULL, 0);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a directory through a link the stream made is refused");

    reset();
    rec('D', 0755, "t", NULL, 0);
    rec('L', 0777, "t/l", outside, strlen(outside));
    rec('L', 0777, "t/l/x", "/etc", 4);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a link through a link the stream made is refused");

    {
        struct w_error err = {0};
        char path[4300];
        struct stat st;
        reset();
        rec('D', 0755, ".", NULL, 0);
        rec('L', 0777, "d", outside, strlen(outside));
        rec('D', 0700, "d", NULL, 0); /* the link is replaced by a directory, in dst */
        rec('F', 0600, "d/x", "x", 1);
        rec('Z', 0, NULL, NULL, 0);
        TAP_OK(unpack(&plain, &err) == 0, "a link then a directory of that name: replaced");
        snprintf(path, sizeof(path), "%s/d/x", dst);
        TAP_OK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && outside_empty(),
               "... inside dst, nothing outside");
    }

    reset();
    rec('F', 0644, "f", "x", 1);
    rec('F', 0644, "g", "y", 1);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a second entry after a single file is refused");

    reset();
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rec('D', 0755, big, NULL, 0);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a name longer than COPY_NAME_MAX is refused");

    reset();
    rec('D', 0755, "t", NULL, 0);
    {
        unsigned char *p = stream + slen;
        rec('F', 0644, "t/aXb", "x", 1);
        p[COPY_HDR_LEN + 3] = '\0'; /* "t/a\0b" */
    }
    rec('Z', 0, NULL, NULL, 0);
    hostile("a name with a NUL byte is refused");

    reset();
    rec('D', 0755, "t", NULL, 0);
    rec('L', 0777, "t/l", "a\0b", 3);
    rec('Z', 0, NULL, NULL, 0);
    hostile("a link target with a NUL byte is refused");

    reset();
    rec('D', 0755, "t", NULL, 0);
    rec('Q', 0644, "t/q", NULL, 0);
    rec('Z', 0, NULL, NULL, 0);
    hostile("an unknown record type is refused");

    {
        struct w_error err = {0};
        reset();
        rec('D', 0755, "t", NULL, 0);
        rec('F', 0644, "t/f", "abc", 3);
        slen -= 2; /* cut inside the data */
        TAP_OK(unpack(&plain, &err) == -1 && err.errnum == EPIPE, "a stream cut short: EPIPE");
        reset();
        TAP_OK(unpack(&plain, &err) == -1 && err.errnum == EPIPE, "an empty stream: EPIPE");
        reset();
        rec('Z', 0, NULL, NULL, 0);
        TAP_OK(unpack(&plain, &err) == -1 && strstr(err.msg, "nothing to copy"),
               "only the end record: refused");
    }

    {
        char path[4300];
        snprintf(path, sizeof(path), "%s/stream", tmpdir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/src", tmpdir);
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        reset();
        rmdir(outside);
        rmdir(tmpdir);
    }
    return tap_done();
}
