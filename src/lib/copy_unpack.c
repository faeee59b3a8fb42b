/* The receiving half of copy in/out (copytree.h). Runs in wardend's copy worker (copy
 * out, host side, as root: the stream comes from the container and may be anything) or
 * in the child wshd forks (copy in, in the container, as the container's user).
 *
 * Safety does not depend on the sender: every name is checked component by component
 * (no "", ".", "..", no NUL, bounded length, inside the first entry), every lookup below
 * the destination is openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from the destination's
 * descriptor, and the final component is created fresh (unlink, then O_EXCL, mkdirat,
 * symlinkat), so nothing is written through a link or an existing hard link. */
#include "copytree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BUF_LEN (256 * 1024)
#define RESOLVE_STRICT (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

struct dir_rec {
    char *name;
    uint32_t mode;
    struct timespec mtime;
};

struct unpack {
    int in;
    int in_is_pipe;
    const struct copy_unpack_opts *o;
    char dst[PATH_MAX];            /* the destination root (for messages) */
    int root;                      /* its descriptor: everything is resolved beneath it */
    int root_created;              /* we made it: the "." record's mode applies */
    char top[COPY_NAME_MAX + 1];   /* the first entry's name: all others are below it */
    const char *rename;            /* a single file or link gets this name instead */
    char pname[COPY_NAME_MAX + 1]; /* the cached parent directory and its descriptor */
    int pfd;
    struct dir_rec *dirs;
    size_t ndirs, capdirs;
    char name[COPY_NAME_MAX + 1]; /* the record being read */
    char *buf;
};

static long sys_openat2(int dirfd, const char *path, int flags, mode_t mode)
{
    struct open_how how = {.flags = (uint64_t)flags, .mode = mode, .resolve = RESOLVE_STRICT};

    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int fail(struct unpack *u, struct w_error *err, int e, const char *what, const char *name)
{
    const char *sep = u->dst[strlen(u->dst) - 1] == '/' ? "" : "/";

    if (u->rename) /* a single entry, under dst's name */
        name = u->rename;
    if (name == NULL || strcmp(name, ".") == 0)
        name = "", sep = "";
    return w_errno(err, e, "%s %s%s%s", what, u->dst, sep, name);
}

/* A relative path of one or more components, none empty, "." or "..". */
static int name_ok(const char *name, size_t len)
{
    const char *p = name, *end = name + len;

    if (len == 0 || memchr(name, '\0', len) != NULL || name[0] == '/')
        return 0;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);

        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n + 1;
    }
    return name[len - 1] != '/';
}

/* The directory holding name (its descriptor, borrowed; the root for a bare name), and
 * the base name. Successive entries of one directory reuse the descriptor. */
static int parent_of(struct unpack *u, char *name, const char **leaf, struct w_error *err)
{
    char *slash = strrchr(name, '/');
    long fd;

    if (slash == NULL) {
        *leaf = u->rename ? u->rename : name;
        return u->root;
    }
    *leaf = slash + 1;
    *slash = '\0';
    if (u->pfd >= 0 && strcmp(u->pname, name) == 0) {
        *slash = '/';
        return u->pfd;
    }
    fd = sys_openat2(u->root, name, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
        fail(u, err, errno, "cannot open directory", name);
        *slash = '/';
        return -1;
    }
    if (u->pfd >= 0)
        close(u->pfd);
    u->pfd = (int)fd;
    strlcpy(u->pname, name, sizeof(u->pname));
    *slash = '/';
    return u->pfd;
}

static int add_dir(struct unpack *u, const char *name, const struct copy_hdr *h)
{
    if (u->ndirs == u->capdirs) {
        size_t cap = u->capdirs ? u->capdirs * 2 : 64;
        struct dir_rec *d = realloc(u->dirs, cap * sizeof(*d));
        if (d == NULL)
            return -1;
        u->dirs = d;
        u->capdirs = cap;
    }
    u->dirs[u->ndirs].name = strdup(name);
    if (u->dirs[u->ndirs].name == NULL)
        return -1;
    u->dirs[u->ndirs].mode = h->mode;
    u->dirs[u->ndirs].mtime = (struct timespec){h->mtime_sec, h->mtime_nsec};
    u->ndirs++;
    return 0;
}

static int make_dir(struct unpack *u, char *name, const struct copy_hdr *h, struct w_error *err)
{
    const char *leaf;
    struct stat st;
    int pfd;

    if (strcmp(name, ".") == 0) /* the root itself, opened already */
        return u->root_created && add_dir(u, ".", h) < 0 ? w_err(err, "out of memory") : 0;
    if ((pfd = parent_of(u, name, &leaf, err)) < 0)
        return -1;
    if (mkdirat(pfd, leaf, 0700) < 0) {
        if (errno != EEXIST)
            return fail(u, err, errno, "cannot create directory", name);
        if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return fail(u, err, errno, "cannot stat", name);
        if (!S_ISDIR(st.st_mode)) { /* a file or a link where a directory goes: replace it */
            if (unlinkat(pfd, leaf, 0) < 0 || mkdirat(pfd, leaf, 0700) < 0)
                return fail(u, err, errno, "cannot create directory", name);
        }
    }
    if (u->o->uid != (uid_t)-1 &&
        fchownat(pfd, leaf, u->o->uid, u->o->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, err, errno, "cannot chown", name);
    if (add_dir(u, name, h) < 0)
        return w_err(err, "out of memory");
    return 0;
}

/* size bytes of the stream into fd. */
static int recv_data(struct unpack *u, int fd, uint64_t size, const char *name, struct w_error *err)
{
    uint64_t left = size;

    while (left > 0) {
        size_t want = left > BUF_LEN ? BUF_LEN : (size_t)left;
        ssize_t n;

        if (u->in_is_pipe) {
            n = splice(u->in, NULL, fd, NULL, want, SPLICE_F_MOVE | SPLICE_F_MORE);
            if (n < 0 && errno == EINVAL) {
                u->in_is_pipe = 0;
                continue;
            }
        } else {
            n = read(u->in, u->buf, want);
            if (n > 0 && copy_write_full(fd, u->buf, (size_t)n, err) < 0)
                return fail(u, err, err->errnum, "cannot write", name);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) /* splice does not say which side failed: both are "writing" to the user */
            return fail(u, err, errno, "cannot write", name);
        if (n == 0) {
            fail(u, err, EPIPE, "the stream ended early in", name);
            err->errnum = EPIPE;
            return -1;
        }
        left -= (uint64_t)n;
    }
    return 0;
}

static mode_t file_mode(const struct unpack *u, const struct copy_hdr *h)
{
    mode_t mode = h->mode & 07777;

    return u->o->strip_suid ? mode & ~(mode_t)(S_ISUID | S_ISGID) : mode;
}

/* The file was created with its permission bits (the umask is 0 meanwhile). Owner before
 * the setuid/setgid/sticky bits: chown clears the former, chmod sets them again. */
static int set_attrs(struct unpack *u, int fd, const struct copy_hdr *h, const char *name,
                     struct w_error *err)
{
    struct timespec ts[2] = {{0, UTIME_OMIT}, {h->mtime_sec, h->mtime_nsec}};
    mode_t mode = file_mode(u, h);

    if (u->o->uid != (uid_t)-1 && fchown(fd, u->o->uid, u->o->gid) < 0)
        return fail(u, err, errno, "cannot chown", name);
    if ((mode & 07000) && fchmod(fd, mode) < 0)
        return fail(u, err, errno, "cannot chmod", name);
    (void)!futimens(fd, ts);
    return 0;
}

/* A new file: O_EXCL never opens what is there (a link, a hard link, a fifo); whatever is
 * there is removed and the create tried once more. */
static int create_file(struct unpack *u, int pfd, const char *leaf, const struct copy_hdr *h)
{
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC;
    mode_t mode = file_mode(u, h) & 0777;
    long fd = sys_openat2(pfd, leaf, flags, mode);

    if (fd < 0 && errno == EEXIST) {
        if (unlinkat(pfd, leaf, 0) < 0 && errno != ENOENT)
            return -1;
        fd = sys_openat2(pfd, leaf, flags, mode);
    }
    return (int)fd;
}

static int make_file(struct unpack *u, char *name, const struct copy_hdr *h, struct w_error *err)
{
    const char *leaf;
    int pfd, fd, ret;

    if ((pfd = parent_of(u, name, &leaf, err)) < 0)
        return -1;
    if ((fd = create_file(u, pfd, leaf, h)) < 0)
        return fail(u, err, errno == EEXIST ? EISDIR : errno, "cannot create", name);
    ret = recv_data(u, fd, h->size, name, err);
    if (ret == 0)
        ret = set_attrs(u, fd, h, name, err);
    if (close(fd) < 0 && ret == 0) /* NFS, quotas: the error may only show here */
        ret = fail(u, err, errno, "cannot write", name);
    return ret;
}

static int make_link(struct unpack *u, char *name, const struct copy_hdr *h, struct w_error *err)
{
    struct timespec ts[2] = {{0, UTIME_OMIT}, {h->mtime_sec, h->mtime_nsec}};
    char target[COPY_LINK_MAX + 1];
    const char *leaf;
    int pfd;

    if (h->size == 0 || h->size > COPY_LINK_MAX)
        return fail(u, err, ENAMETOOLONG, "bad link target for", name);
    if (copy_read_full(u->in, target, (size_t)h->size, err) < 0)
        return -1;
    target[h->size] = '\0';
    if (strlen(target) != h->size)
        return fail(u, err, EINVAL, "bad link target for", name);
    if ((pfd = parent_of(u, name, &leaf, err)) < 0)
        return -1;
    if (symlinkat(target, pfd, leaf) < 0 &&
        (errno != EEXIST || (unlinkat(pfd, leaf, 0) < 0 && errno != ENOENT) ||
         symlinkat(target, pfd, leaf) < 0))
        return fail(u, err, errno == EEXIST ? EISDIR : errno, "cannot create link", name);
    if (u->o->uid != (uid_t)-1 &&
        fchownat(pfd, leaf, u->o->uid, u->o->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(u, err, errno, "cannot chown", name);
    (void)!utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* Directory modes and times last, deepest first: a 0555 directory is filled first. */
static int finish_dirs(struct unpack *u, struct w_error *err)
{
    for (size_t i = u->ndirs; i-- > 0;) {
        struct dir_rec *d = &u->dirs[i];
        struct timespec ts[2] = {{0, UTIME_OMIT}, d->mtime};
        int fd = strcmp(d->name, ".") == 0
                     ? dup(u->root)
                     : (int)sys_openat2(u->root, d->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

        if (fd < 0)
            return fail(u, err, errno, "cannot open directory", d->name);
        if (fchmod(fd, d->mode & 07777) < 0) {
            int e = errno;
            close(fd);
            return fail(u, err, e, "cannot chmod", d->name);
        }
        (void)!futimens(fd, ts);
        close(fd);
    }
    return 0;
}

/* mkdir -p path (the parents as the operator or the container names them: this is the
 * destination, not the tree), then open it without following a link at its end. */
static int open_root(struct unpack *u, char *path, int *created, struct w_error *err)
{
    size_t len = strlen(path);
    int fd;

    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    *created = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) == 0) {
            *created = c == '\0';
        } else if (errno != EEXIST) {
            w_errno(err, errno, "cannot create directory %s", path);
            *p = c;
            return -1;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
        struct stat st;
        return w_err(err, "cannot copy into %s: it is %s", path,
                     lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? "a symbolic link"
                                                                  : "not a directory");
    }
    if (fd < 0)
        return w_errno(err, errno, "cannot open %s", path);
    if (*created && u->o->uid != (uid_t)-1 && fchown(fd, u->o->uid, u->o->gid) < 0) {
        int e = errno;
        close(fd);
        return w_errno(err, e, "cannot chown %s", path);
    }
    return fd;
}

/* A single file or link that becomes dst itself: the root is dst's directory, and the
 * entry takes dst's base name. */
static int place_single(struct unpack *u, const char *dst, struct w_error *err)
{
    const char *slash = strrchr(dst, '/');
    char path[PATH_MAX];
    int created;

    u->rename = slash ? slash + 1 : dst;
    if (!name_ok(u->rename, strlen(u->rename)))
        return w_err(err, "bad destination path %s", dst);
    if (slash == NULL)
        strlcpy(path, ".", sizeof(path));
    else if (slash == dst)
        strlcpy(path, "/", sizeof(path));
    else
        snprintf(path, sizeof(path), "%.*s", (int)(slash - dst), dst);
    if ((u->root = open_root(u, path, &created, err)) < 0)
        return -1;
    strlcpy(u->dst, path, sizeof(u->dst));
    return 0;
}

/* Where the stream goes, from its first record: see copy_unpack in copytree.h. */
static int place(struct unpack *u, const char *dst, const struct copy_hdr *h, struct w_error *err)
{
    char path[PATH_MAX];
    size_t len = strlen(dst);
    struct stat st;

    if (len == 0 || len >= sizeof(path))
        return w_err(err, "bad destination path \"%.64s\"", dst);
    if (h->type != 'D' && dst[len - 1] != '/' && !(lstat(dst, &st) == 0 && S_ISDIR(st.st_mode)))
        return place_single(u, dst, err);
    strlcpy(path, dst, sizeof(path));
    if ((u->root = open_root(u, path, &u->root_created, err)) < 0)
        return -1;
    strlcpy(u->dst, path, sizeof(u->dst));
    return 0;
}

static int read_record(struct unpack *u, struct copy_hdr *h, char *name, struct w_error *err)
{
    unsigned char raw[COPY_HDR_LEN];

    if (copy_read_full(u->in, raw, sizeof(raw), err) < 0)
        return -1;
    copy_hdr_decode(raw, h);
    if (h->type == 'Z')
        return 0;
    if (h->type != 'D' && h->type != 'F' && h->type != 'L')
        return w_err(err, "bad stream: record type %d", (unsigned char)h->type);
    if (h->name_len == 0 || h->name_len > COPY_NAME_MAX)
        return w_err(err, "bad stream: name of %u bytes", h->name_len);
    if (copy_read_full(u->in, name, h->name_len, err) < 0)
        return -1;
    name[h->name_len] = '\0';
    return 0;
}

/* Every name after the first lies below it ("." holds everything). */
static int below_top(struct unpack *u, const char *name, size_t len)
{
    size_t tl = strlen(u->top);

    if (strcmp(u->top, ".") == 0)
        return name_ok(name, len);
    return len > tl + 1 && memcmp(name, u->top, tl) == 0 && name[tl] == '/' && name_ok(name, len);
}

static int run(struct unpack *u, const char *dst, struct w_error *err)
{
    char *name = u->name;
    struct copy_hdr h;
    size_t n = 0;
    int ret = 0;

    for (;; n++) {
        if (read_record(u, &h, name, err) < 0)
            return -1;
        if (h.type == 'Z')
            break;
        if (n == 0) {
            int root_dot = h.type == 'D' && strcmp(name, ".") == 0;
            if (!root_dot && (!name_ok(name, h.name_len) || strchr(name, '/')))
                return w_err(err, "bad stream: first name \"%.64s\"", name);
            if (place(u, dst, &h, err) < 0)
                return -1;
            strlcpy(u->top, name, sizeof(u->top));
        } else if (u->rename || !below_top(u, name, h.name_len)) {
            return w_err(err, "bad stream: unexpected name \"%.64s\"", name);
        }
        if (h.type == 'D')
            ret = make_dir(u, name, &h, err);
        else if (h.type == 'F')
            ret = make_file(u, name, &h, err);
        else
            ret = make_link(u, name, &h, err);
        if (ret < 0)
            return -1;
    }
    if (n == 0)
        return w_err(err, "bad stream: nothing to copy");
    return finish_dirs(u, err);
}

int copy_unpack(int in, const char *dst, const struct copy_unpack_opts *o, struct w_error *err)
{
    struct unpack u = {.in = in, .o = o, .root = -1, .pfd = -1};
    struct stat st;
    mode_t old_umask;
    int ret;

    u.in_is_pipe = fstat(in, &st) == 0 && S_ISFIFO(st.st_mode);
    if ((u.buf = malloc(BUF_LEN)) == NULL)
        return w_err(err, "out of memory");
    old_umask = umask(0); /* every mode below is explicit */
    ret = run(&u, dst, err);
    umask(old_umask);
    if (u.pfd >= 0)
        close(u.pfd);
    if (u.root >= 0)
        close(u.root);
    for (size_t i = 0; i < u.ndirs; i++)
        free(u.dirs[i].name);
    free(u.dirs);
    free(u.buf);
    return ret;
}
