/* The sending half of copy in/out (copytree.h). Runs in wardend's copy worker (copy in,
 * host side, as root) or in the child wshd forks (copy out, in the container, as the
 * container's user). It walks with one descriptor per directory level and opens every
 * entry relative to its directory with O_NOFOLLOW, re-checking the type on the opened
 * descriptor, so a symlink swapped in mid-walk is never followed: at worst that entry
 * fails with ELOOP or changes type and is reported. */
#include "copytree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_LEN (256 * 1024)

struct pack {
    int out;
    char prefix[PATH_MAX]; /* SRC up to the start of rel, for messages */
    char rel[COPY_NAME_MAX + 1];
    size_t rel_len;
    int out_is_pipe;
    char *buf;
};

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void copy_hdr_encode(const struct copy_hdr *h, unsigned char out[COPY_HDR_LEN])
{
    memset(out, 0, COPY_HDR_LEN);
    out[0] = (unsigned char)h->type;
    put_be(out + 4, h->mode, 4);
    put_be(out + 8, h->size, 8);
    put_be(out + 16, (uint64_t)h->mtime_sec, 8);
    put_be(out + 24, h->mtime_nsec, 4);
    put_be(out + 28, h->name_len, 4);
}

void copy_hdr_decode(const unsigned char in[COPY_HDR_LEN], struct copy_hdr *h)
{
    h->type = (char)in[0];
    h->mode = (uint32_t)get_be(in + 4, 4);
    h->size = get_be(in + 8, 8);
    h->mtime_sec = (int64_t)get_be(in + 16, 8);
    h->mtime_nsec = (uint32_t)get_be(in + 24, 4);
    h->name_len = (uint32_t)get_be(in + 28, 4);
}

int copy_write_full(int fd, const void *buf, size_t len, struct w_error *err)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return w_errno(err, errno, "write");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int copy_read_full(int fd, void *buf, size_t len, struct w_error *err)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return w_errno(err, errno, "read");
        if (n == 0) {
            w_err(err, "the stream ended early");
            err->errnum = EPIPE;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void copy_status_write(int fd, int rc, const struct w_error *err)
{
    char line[sizeof(err->msg) + 16];
    int n;

    if (rc == 0)
        n = snprintf(line, sizeof(line), "ok\n");
    else
        n = snprintf(line, sizeof(line), "%s %s\n", err->errnum == EPIPE ? "epipe" : "error",
                     err->msg);
    (void)copy_write_full(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line), NULL);
}

int copy_status_read(int fd, char *msg, size_t cap)
{
    char buf[1200];
    size_t len = 0;
    char *nl;

    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf) - 1)
            break;
    }
    buf[len] = '\0';
    msg[0] = '\0';
    if ((nl = strchr(buf, '\n')) == NULL)
        return COPY_ST_NONE;
    *nl = '\0';
    if (strcmp(buf, "ok") == 0)
        return COPY_ST_OK;
    if (strncmp(buf, "epipe ", 6) == 0) {
        strlcpy(msg, buf + 6, cap);
        return COPY_ST_EPIPE;
    }
    if (strncmp(buf, "error ", 6) == 0) {
        strlcpy(msg, buf + 6, cap);
        return COPY_ST_ERROR;
    }
    return COPY_ST_NONE;
}

/* prefix + rel ("" for the root "."): the path the operator named, for messages. */
static int pack_fail(struct pack *p, struct w_error *err, int e, const char *what)
{
    const char *rel = strcmp(p->rel, ".") == 0 ? "" : p->rel;

    if (e == EPIPE)
        return w_errno(err, e, "sending %s%s", p->prefix, rel);
    return w_errno(err, e, "%s %s%s", what, p->prefix, rel);
}

static int send_hdr(struct pack *p, char type, const struct stat *st, uint64_t size,
                    const char *extra, size_t extra_len, struct w_error *err)
{
    unsigned char rec[COPY_HDR_LEN + COPY_NAME_MAX + COPY_LINK_MAX];
    struct copy_hdr h = {
        .type = type,
        .mode = st ? (uint32_t)(st->st_mode & 07777) : 0,
        .size = size,
        .mtime_sec = st ? st->st_mtim.tv_sec : 0,
        .mtime_nsec = st ? (uint32_t)st->st_mtim.tv_nsec : 0,
        .name_len = (uint32_t)p->rel_len,
    };

    copy_hdr_encode(&h, rec);
    memcpy(rec + COPY_HDR_LEN, p->rel, p->rel_len);
    if (extra_len)
        memcpy(rec + COPY_HDR_LEN + p->rel_len, extra, extra_len);
    if (copy_write_full(p->out, rec, COPY_HDR_LEN + p->rel_len + extra_len, err) < 0)
        return pack_fail(p, err, err->errnum, "sending");
    return 0;
}

/* size bytes of fd to the stream; a file that shrank is padded (the stream stays
 * well-formed) and then reported. */
static int send_data(struct pack *p, int fd, uint64_t size, struct w_error *err)
{
    uint64_t left = size;
    int shrank = 0;

    while (left > 0) {
        size_t want = left > BUF_LEN ? BUF_LEN : (size_t)left;
        ssize_t n;

        if (shrank) {
            memset(p->buf, 0, want);
            if (copy_write_full(p->out, p->buf, want, err) < 0)
                return pack_fail(p, err, err->errnum, "sending");
            left -= want;
            continue;
        }
        if (p->out_is_pipe) {
            n = splice(fd, NULL, p->out, NULL, want, SPLICE_F_MORE);
            if (n < 0 && errno == EINVAL) {
                p->out_is_pipe = 0;
                continue;
            }
        } else {
            n = read(fd, p->buf, want);
            if (n > 0 && copy_write_full(p->out, p->buf, (size_t)n, err) < 0)
                return pack_fail(p, err, err->errnum, "sending");
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return pack_fail(p, err, errno, "cannot read");
        if (n == 0)
            shrank = 1;
        left -= (uint64_t)n;
    }
    if (shrank)
        return pack_fail(p, err, ENODATA, "file shrank while being copied:");
    return 0;
}

static int send_tree(struct pack *p, int dirfd, const char *leaf, int top, struct w_error *err);

/* Every entry of the directory fd (consumed), depth first. */
static int send_children(struct pack *p, int fd, struct w_error *err)
{
    int at_root = strcmp(p->rel, ".") == 0; /* children of "." are bare names */
    size_t base = p->rel_len;
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int ret = 0;

    if (d == NULL) {
        int e = errno;
        close(fd);
        return pack_fail(p, err, e, "cannot read directory");
    }
    while (ret == 0) {
        size_t nlen;

        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno)
                ret = pack_fail(p, err, errno, "cannot read directory");
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        nlen = strlen(de->d_name);
        if (base + 1 + nlen > COPY_NAME_MAX) {
            ret = pack_fail(p, err, ENAMETOOLONG, "cannot copy");
            break;
        }
        if (at_root) {
            memcpy(p->rel, de->d_name, nlen + 1);
            p->rel_len = nlen;
        } else {
            p->rel[base] = '/';
            memcpy(p->rel + base + 1, de->d_name, nlen + 1);
            p->rel_len = base + 1 + nlen;
        }
        ret = send_tree(p, dirfd(d), de->d_name, 0, err);
        if (ret < 0)
            break;
        if (at_root)
            memcpy(p->rel, ".", 2);
        p->rel[base] = '\0';
        p->rel_len = base;
    }
    closedir(d);
    return ret;
}

static int send_tree(struct pack *p, int dirfd, const char *leaf, int top, struct w_error *err)
{
    struct stat st;
    mode_t type;
    int fd, ret;

    if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT && !top)
            return 0; /* vanished since readdir: skipped, as rsync does */
        return pack_fail(p, err, errno, "cannot open");
    }
    if (S_ISLNK(st.st_mode)) {
        char target[COPY_LINK_MAX];
        ssize_t n = readlinkat(dirfd, leaf, target, sizeof(target));
        if (n < 0)
            return pack_fail(p, err, errno, "cannot read link");
        if (n == (ssize_t)sizeof(target))
            return pack_fail(p, err, ENAMETOOLONG, "cannot read link");
        return send_hdr(p, 'L', &st, (uint64_t)n, target, (size_t)n, err);
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && top)
        return w_err(err, "cannot copy %s%s: not a file, directory or symbolic link", p->prefix,
                     p->rel);
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return 0; /* sockets, fifos, devices: skipped, as rsync -r does */
    type = st.st_mode & S_IFMT;
    fd = openat(dirfd, leaf,
                (S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK) |
                    O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !top)
        return 0;
    if (fd < 0 && errno != ELOOP && errno != ENOTDIR)
        return pack_fail(p, err, errno, "cannot open");
    if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
        if (fd >= 0)
            close(fd);
        return w_err(err, "%s%s changed while being copied", p->prefix,
                     strcmp(p->rel, ".") == 0 ? "" : p->rel);
    }
    if (S_ISDIR(st.st_mode)) {
        if (send_hdr(p, 'D', &st, 0, NULL, 0, err) < 0) {
            close(fd);
            return -1;
        }
        return send_children(p, fd, err);
    }
    ret = send_hdr(p, 'F', &st, (uint64_t)st.st_size, NULL, 0, err);
    if (ret == 0)
        ret = send_data(p, fd, (uint64_t)st.st_size, err);
    close(fd);
    return ret;
}

/* The parent directory of a path without trailing slashes, opened O_PATH; *leaf points
 * into path at the base name. */
static int open_parent(const char *path, const char **leaf, struct w_error *err)
{
    const char *slash = strrchr(path, '/');
    char parent[PATH_MAX];
    int fd;

    if (slash == NULL) {
        *leaf = path;
        strlcpy(parent, ".", sizeof(parent));
    } else {
        *leaf = slash + 1;
        if ((size_t)(slash - path) >= sizeof(parent))
            return w_errno(err, ENAMETOOLONG, "cannot open %s", path);
        memcpy(parent, path, (size_t)(slash - path));
        parent[slash - path] = '\0';
        if (parent[0] == '\0')
            strlcpy(parent, "/", sizeof(parent));
    }
    fd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return w_errno(err, errno, "cannot open %s", parent);
    return fd;
}

int copy_pack(int out, const char *src, struct w_error *err)
{
    struct pack p = {.out = out};
    unsigned char end[COPY_HDR_LEN];
    struct copy_hdr z = {.type = 'Z'};
    size_t len = strlen(src);
    struct stat st;
    int ret;

    if (len == 0 || len >= PATH_MAX)
        return w_err(err, "bad source path \"%.64s\"", src);
    p.out_is_pipe = fstat(out, &st) == 0 && S_ISFIFO(st.st_mode);
    if ((p.buf = malloc(BUF_LEN)) == NULL)
        return w_err(err, "out of memory");
    if (src[len - 1] == '/') {
        int fd = open(src, O_RDONLY | O_DIRECTORY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
            ret = w_errno(err, errno, "cannot open %s", src);
            if (fd >= 0)
                close(fd);
            goto out;
        }
        strlcpy(p.prefix, src, sizeof(p.prefix));
        strlcpy(p.rel, ".", sizeof(p.rel));
        p.rel_len = 1;
        ret = send_hdr(&p, 'D', &st, 0, NULL, 0, err);
        if (ret == 0)
            ret = send_children(&p, fd, err);
        else
            close(fd);
    } else {
        const char *leaf;
        int pfd = open_parent(src, &leaf, err);

        if (pfd < 0) {
            ret = -1;
            goto out;
        }
        if (strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0) {
            close(pfd);
            ret = w_err(err,
                        "cannot copy %s: name the directory, or end it in '/' to copy "
                        "its contents",
                        src);
            goto out;
        }
        p.rel_len = strlen(leaf);
        memcpy(p.rel, leaf, p.rel_len + 1);
        memcpy(p.prefix, src, (size_t)(leaf - src));
        p.prefix[leaf - src] = '\0';
        ret = send_tree(&p, pfd, leaf, 1, err);
        close(pfd);
    }
    if (ret == 0) {
        copy_hdr_encode(&z, end);
        if (copy_write_full(out, end, sizeof(end), err) < 0)
            ret = w_err_prefix(err, "sending the end of %s", src);
    }
out:
    free(p.buf);
    return ret;
}
