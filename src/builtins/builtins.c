/* Loadable bash builtins for the hooks (lib/common.sh w_builtins: `enable -f
 * warden-builtins.so NAME`): the tools on the create path that bash's own loadables
 * (Debian bash-builtins) lack, run without a process. chown and mknod take the subset
 * of their coreutils namesakes that the hooks use and refuse anything else with a usage
 * error (status 2), so a hook that needs more says so instead of doing something else:
 *   chown [-R] [-h] OWNER[:[GROUP]] | :GROUP FILE...   (names or numbers; -R never
 *         follows a symbolic link and changes links themselves, as coreutils' -R -P)
 *   mknod [-m OCTAL_MODE] NAME c|u|b MAJOR MINOR | NAME p   (-m: exactly that mode)
 * mount_fstab [-q] FSTAB is mount -a -T FSTAB (see mount_fstab_builtin); hostname [NAME]
 * prints or sets the host name (of the caller's uts namespace); ip_batch [-q] is a part of
 * ip -batch - (see ip_batch_builtin); zygote [FD] makes the shell a fork server for the
 * hook runner (see zygote_builtin, src/lib/hookrun.h); skel_copy [-q] SRC DST copies
 * setup.sh's skeleton (see skel_copy_builtin).
 * Built against bash's headers (pkg-config bash); not linked with the rest of warden. */
/* What bash's loadables.h includes, in its order (Debian ships that file outside the
 * header path). */
/* clang-format off */
#include "config.h"
#include "builtins.h"
#include "shell.h"
#include "bashgetopt.h"
#include "common.h"
#include "jobs.h"
#include "execute_cmd.h"
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <mntent.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "../lib/hookrun_become.h"

/* A number (all digits, within id_t) or a name looked up in passwd/group. */
static int parse_id(const char *s, int group, id_t *id, gid_t *login_gid)
{
    char *end;
    unsigned long v;

    if (*s >= '0' && *s <= '9') {
        errno = 0;
        v = strtoul(s, &end, 10);
        if (*end == '\0' && errno == 0 && v < (id_t)-1) {
            *id = (id_t)v;
            if (login_gid) {
                struct passwd *pw = getpwuid((uid_t)v);
                *login_gid = pw ? pw->pw_gid : (gid_t)-1;
            }
            return 0;
        }
    }
    if (group) {
        struct group *gr = getgrnam(s);
        if (!gr)
            return -1;
        *id = gr->gr_gid;
    } else {
        struct passwd *pw = getpwnam(s);
        if (!pw)
            return -1;
        *id = pw->pw_uid;
        if (login_gid)
            *login_gid = pw->pw_gid;
    }
    return 0;
}

static uid_t chown_uid;
static gid_t chown_gid;
static int chown_failed;

static int chown_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    if (lchown(path, chown_uid, chown_gid) != 0) {
        builtin_error("%s: %s", path, strerror(errno));
        chown_failed = 1;
    }
    return 0;
}

static int chown_builtin(WORD_LIST *list)
{
    int opt, recurse = 0, nofollow = 0;
    char *spec, *colon;
    id_t id;
    gid_t login_gid = (gid_t)-1;

    reset_internal_getopt();
    while ((opt = internal_getopt(list, "Rh")) != -1) {
        switch (opt) {
        case 'R':
            recurse = 1;
            break;
        case 'h':
            nofollow = 1;
            break;
            CASE_HELPOPT;
        default:
            builtin_usage();
            return EX_USAGE;
        }
    }
    list = loptend;
    if (!list || !list->next) {
        builtin_usage();
        return EX_USAGE;
    }
    spec = savestring(list->word->word);
    chown_uid = (uid_t)-1, chown_gid = (gid_t)-1;
    colon = strchr(spec, ':');
    if (colon)
        *colon = '\0';
    if (*spec) {
        if (parse_id(spec, 0, &id, colon && colon[1] == '\0' ? &login_gid : NULL) != 0) {
            builtin_error("invalid user: '%s'", list->word->word);
            free(spec);
            return EX_USAGE;
        }
        chown_uid = (uid_t)id;
    }
    if (colon && colon[1]) {
        if (parse_id(colon + 1, 1, &id, NULL) != 0) {
            builtin_error("invalid group: '%s'", list->word->word);
            free(spec);
            return EX_USAGE;
        }
        chown_gid = (gid_t)id;
    } else if (colon && *spec) { /* OWNER: is OWNER's login group */
        if (login_gid == (gid_t)-1) {
            builtin_error("no login group for user: '%s'", spec);
            free(spec);
            return EX_USAGE;
        }
        chown_gid = login_gid;
    }
    free(spec);
    if (chown_uid == (uid_t)-1 && chown_gid == (gid_t)-1) {
        builtin_usage();
        return EX_USAGE;
    }
    chown_failed = 0;
    for (list = list->next; list; list = list->next) {
        const char *path = list->word->word;
        if (recurse) {
            if (nftw(path, chown_one, 16, FTW_PHYS) != 0 && !chown_failed) {
                builtin_error("%s: %s", path, strerror(errno));
                chown_failed = 1;
            }
        } else if ((nofollow ? lchown : chown)(path, chown_uid, chown_gid) != 0) {
            builtin_error("%s: %s", path, strerror(errno));
            chown_failed = 1;
        }
    }
    return chown_failed ? EXECUTION_FAILURE : EXECUTION_SUCCESS;
}

/* skel_copy [-q] SRC DST: a copy of the directory SRC (a symbolic link to one is
 * followed) at DST, which must not exist, as `cp -a SRC/. DST` makes it for a skeleton of
 * only directories (mode 0777 or less) and regular files (no execute or special bit),
 * all of our uid and gid: modes, owners (ours) and contents kept, not times or extended
 * attributes; git's placeholders (.gitkeep) left out. Anything else in SRC (a link, a
 * node, another owner, more than SKEL_MAX entries or SKEL_BYTES of contents): status 2
 * and nothing made (-q: silently), so the caller runs cp -a. SRC is read whole before
 * DST is made. */
#define SKEL_MAX 4096
#define SKEL_BYTES (64 << 20) /* file contents held at once; more: cp -a */
struct skel_entry {
    char *rel; /* "" for SRC itself */
    mode_t mode;
    int dir;
    char *data;
    size_t size;
};
static struct skel_entry *skel;
static size_t nskel, skel_rootlen, skel_bytes;
static int skel_refused;

static void skel_free(void)
{
    for (size_t i = 0; i < nskel; i++) {
        free(skel[i].rel);
        free(skel[i].data);
    }
    free(skel);
    skel = NULL;
    nskel = 0;
}

static int skel_read(const char *path, struct skel_entry *e)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    size_t got = 0;
    ssize_t n;

    if (fd < 0)
        return -1;
    e->data = malloc(e->size ? e->size : 1);
    while (e->data && got < e->size && (n = read(fd, e->data + got, e->size - got)) > 0)
        got += (size_t)n;
    close(fd);
    return e->data && got == e->size ? 0 : -1;
}

static int skel_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    struct skel_entry *e;
    const char *base = path + ftw->base;

    if (type == FTW_F && ftw->level > 0 && strcmp(base, ".gitkeep") == 0)
        return 0;
    if ((type != FTW_D && type != FTW_F) || sb->st_uid != geteuid() || sb->st_gid != getegid() ||
        (type == FTW_D ? (sb->st_mode & 07777) > 0777 : (sb->st_mode & 07111) != 0) ||
        (type == FTW_F && !S_ISREG(sb->st_mode)) || nskel == SKEL_MAX ||
        (type == FTW_F && (size_t)sb->st_size > SKEL_BYTES - skel_bytes)) {
        skel_refused = 1;
        return 1;
    }
    if (nskel % 64 == 0) {
        struct skel_entry *more = realloc(skel, (nskel + 64) * sizeof(*skel));
        if (more == NULL)
            return skel_refused = 1;
        skel = more;
    }
    e = &skel[nskel];
    memset(e, 0, sizeof(*e));
    e->rel = savestring(ftw->level == 0 ? "" : path + skel_rootlen);
    e->mode = sb->st_mode & 07777;
    e->dir = type == FTW_D;
    e->size = e->dir ? 0 : (size_t)sb->st_size;
    skel_bytes += e->size;
    nskel++;
    if (!e->dir && skel_read(path, e) < 0)
        return skel_refused = 1;
    return 0;
}

static int skel_copy_builtin(WORD_LIST *list)
{
    int opt, quiet = 0, ret = EXECUTION_SUCCESS;
    char src[PATH_MAX], path[PATH_MAX];
    const char *dst;
    mode_t um;

    reset_internal_getopt();
    while ((opt = internal_getopt(list, "q")) != -1) {
        switch (opt) {
        case 'q':
            quiet = 1;
            break;
            CASE_HELPOPT;
        default:
            builtin_usage();
            return EX_USAGE;
        }
    }
    list = loptend;
    if (!list || !list->next || list->next->next) {
        builtin_usage();
        return EX_USAGE;
    }
    /* SRC/. as cp -a is given it: a link to the skeleton is the skeleton. */
    if (realpath(list->word->word, src) == NULL) {
        builtin_error("%s: %s", list->word->word, strerror(errno));
        return EXECUTION_FAILURE;
    }
    dst = list->next->word->word;
    skel_rootlen = strlen(src);
    skel_refused = 0;
    skel_bytes = 0;
    if (nftw(src, skel_one, 16, FTW_PHYS) != 0 || skel_refused || nskel == 0 || !skel[0].dir) {
        if (!quiet)
            builtin_error("%s: not only directories and plain files of ours: run cp -a", src);
        skel_free();
        return EX_USAGE;
    }
    um = umask(0);
    for (size_t i = 0; i < nskel && ret == EXECUTION_SUCCESS; i++) {
        const struct skel_entry *e = &skel[i];
        int fd;

        if (snprintf(path, sizeof(path), "%s%s", dst, e->rel) >= (int)sizeof(path)) {
            builtin_error("%s%s: %s", dst, e->rel, strerror(ENAMETOOLONG));
            ret = EXECUTION_FAILURE;
        } else if (e->dir) {
            if (mkdir(path, e->mode) < 0) {
                builtin_error("%s: %s", path, strerror(errno));
                ret = EXECUTION_FAILURE;
            }
        } else if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                              e->mode)) < 0 ||
                   (e->size && write(fd, e->data, e->size) != (ssize_t)e->size) || close(fd) < 0) {
            builtin_error("%s: %s", path, strerror(errno));
            ret = EXECUTION_FAILURE;
        }
    }
    umask(um);
    skel_free();
    return ret;
}

static int parse_number(const char *s, int base, unsigned long max, unsigned long *out)
{
    char *end;

    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, base);
    return *end || errno || *out > max ? -1 : 0;
}

static int mknod_builtin(WORD_LIST *list)
{
    int opt, argc = 0;
    unsigned long mode = 0666, major = 0, minor = 0;
    int exact = 0;
    mode_t type;
    const char *argv[4];
    WORD_LIST *l;

    reset_internal_getopt();
    while ((opt = internal_getopt(list, "m:")) != -1) {
        switch (opt) {
        case 'm':
            if (parse_number(list_optarg, 8, 07777, &mode) != 0) {
                builtin_error("invalid (or not octal) mode: '%s'", list_optarg);
                return EX_USAGE;
            }
            exact = 1;
            break;
            CASE_HELPOPT;
        default:
            builtin_usage();
            return EX_USAGE;
        }
    }
    for (l = loptend; l; l = l->next) {
        if (argc == 4) {
            builtin_usage();
            return EX_USAGE;
        }
        argv[argc++] = l->word->word;
    }
    if (argc < 2 || strlen(argv[1]) != 1) {
        builtin_usage();
        return EX_USAGE;
    }
    switch (argv[1][0]) {
    case 'b':
        type = S_IFBLK;
        break;
    case 'c':
    case 'u':
        type = S_IFCHR;
        break;
    case 'p':
        type = S_IFIFO;
        break;
    default:
        builtin_usage();
        return EX_USAGE;
    }
    if (type == S_IFIFO ? argc != 2 : argc != 4) {
        builtin_usage();
        return EX_USAGE;
    }
    if (type != S_IFIFO && (parse_number(argv[2], 0, UINT_MAX, &major) != 0 ||
                            parse_number(argv[3], 0, UINT_MAX, &minor) != 0)) {
        builtin_error("invalid device number: '%s %s'", argv[2], argv[3]);
        return EX_USAGE;
    }
    if (mknod(argv[0], type | (mode_t)mode, makedev((unsigned)major, (unsigned)minor)) != 0) {
        builtin_error("%s: %s", argv[0], strerror(errno));
        return EXECUTION_FAILURE;
    }
    /* -m: the mode asked for, whatever the umask (and special bits mknod drops). */
    if (exact && chmod(argv[0], (mode_t)mode) != 0) {
        builtin_error("%s: %s", argv[0], strerror(errno));
        return EXECUTION_FAILURE;
    }
    return EXECUTION_SUCCESS;
}

/* mount_fstab: what `mount -a -T FSTAB` does with the hooks' fstabs, in this process.
 * The option names of mount(8) that are flags become flags; x-* and X-* are mount(8)'s
 * own (X-mount.mkdir[=MODE] makes the mount point, with its parents, 0755 or MODE);
 * anything else goes to the file system as data. A bind mount with flags is bound, then
 * remounted with them (not recursively, as mount(8)). Lines with noauto are skipped.
 * Every line is checked before anything is mounted: an option this does not do
 * (propagation, remount, move, user mounts, nofail, loop, ...) makes it fail with
 * status 2 having done nothing (and saying why, unless -q), so the caller can run
 * mount(8) instead. */
static const struct {
    const char *name;
    unsigned long set, clear;
} mount_flags[] = {
    {"defaults", 0, 0},
    {"rw", 0, MS_RDONLY},
    {"ro", MS_RDONLY, 0},
    {"suid", 0, MS_NOSUID},
    {"nosuid", MS_NOSUID, 0},
    {"dev", 0, MS_NODEV},
    {"nodev", MS_NODEV, 0},
    {"exec", 0, MS_NOEXEC},
    {"noexec", MS_NOEXEC, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"sync", MS_SYNCHRONOUS, 0},
    {"dirsync", MS_DIRSYNC, 0},
    {"atime", 0, MS_NOATIME},
    {"noatime", MS_NOATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"norelatime", 0, MS_RELATIME},
    {"relatime", MS_RELATIME, 0},
    {"nostrictatime", 0, MS_STRICTATIME},
    {"strictatime", MS_STRICTATIME, 0},
    {"nolazytime", 0, MS_LAZYTIME},
    {"lazytime", MS_LAZYTIME, 0},
    {"loud", 0, MS_SILENT},
    {"silent", MS_SILENT, 0},
    {"nomand", 0, MS_MANDLOCK},
    {"mand", MS_MANDLOCK, 0},
    {"bind", MS_BIND, 0},
    {"rbind", MS_BIND | MS_REC, 0},
    {"auto", 0, 0},
};
/* mount(8)'s, which this does not do. */
static const char *const mount_refused[] = {
    "remount", "move",      "rmove",      "shared",      "rshared", "slave",   "rslave",
    "private", "rprivate",  "unbindable", "runbindable", "user",    "nouser",  "users",
    "owner",   "noowner",   "group",      "nogroup",     "_netdev", "nofail",  "loop",
    "offset",  "sizelimit", "encryption", "verity",      "helper",  "comment", NULL,
};

struct mount_line {
    char *src, *dst, *type, *data;
    unsigned long flags;
    mode_t mkdir_mode;
    int mkdir, skip; /* X-mount.mkdir; noauto */
};

/* Splits OPTS into L's flags, data and X-mount.mkdir; -1 for an option refused. */
static int mount_parse(char *opts, struct mount_line *l, const char **bad)
{
    char *o, *save = NULL;
    size_t used = 0, cap = strlen(opts) + 1;

    l->data = xmalloc(cap);
    l->data[0] = '\0';
    for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        size_t i;
        int known = 0;
        char *eq = strchr(o, '=');
        size_t nlen = eq ? (size_t)(eq - o) : strlen(o);

        for (i = 0; mount_refused[i]; i++)
            if (strlen(mount_refused[i]) == nlen && strncmp(o, mount_refused[i], nlen) == 0) {
                *bad = o;
                return -1;
            }
        for (i = 0; i < sizeof(mount_flags) / sizeof(mount_flags[0]); i++)
            if (!eq && strcmp(o, mount_flags[i].name) == 0) {
                l->flags = (l->flags & ~mount_flags[i].clear) | mount_flags[i].set;
                known = 1;
            }
        if (known)
            continue;
        if (strcmp(o, "noauto") == 0) {
            l->skip = 1;
        } else if (strncmp(o, "X-mount.mkdir", 13) == 0 && (o[13] == '\0' || o[13] == '=')) {
            unsigned long m = 0755;
            if (o[13] == '=' && parse_number(o + 14, 8, 07777, &m) != 0) {
                *bad = o;
                return -1;
            }
            l->mkdir_mode = (mode_t)m;
            l->mkdir = 1;
        } else if (strncmp(o, "X-mount.", 8) == 0) {
            *bad = o; /* owner, mode, subdir, idmap...: mount(8)'s */
            return -1;
        } else if (strncasecmp(o, "x-", 2) != 0) {
            used += (size_t)snprintf(l->data + used, cap - used, "%s%s", used ? "," : "", o);
        }
    }
    return 0;
}

/* mkdir -p PATH with MODE for what is made. */
static int mount_mkdir(const char *path, mode_t mode)
{
    char *p = savestring(path), *s;
    int rc = 0;

    for (s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST)
            rc = -1;
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc;
}

static int mount_fstab_builtin(WORD_LIST *list)
{
    FILE *f;
    struct mntent *e;
    struct mount_line *lines = NULL;
    size_t n = 0, i;
    int rc = EXECUTION_SUCCESS;
    const char *bad = NULL;
    int quiet = 0;

    if (list && strcmp(list->word->word, "-q") == 0) {
        quiet = 1;
        list = list->next;
    }
    if (!list || list->next || list->word->word[0] == '-') {
        builtin_usage();
        return EX_USAGE;
    }
    f = setmntent(list->word->word, "r");
    if (!f) {
        builtin_error("%s: %s", list->word->word, strerror(errno));
        return EXECUTION_FAILURE;
    }
    while ((e = getmntent(f)) != NULL) {
        struct mount_line *l;
        char *opts = savestring(e->mnt_opts);
        lines = xrealloc(lines, (n + 1) * sizeof(*lines));
        l = &lines[n++];
        memset(l, 0, sizeof(*l));
        l->src = savestring(e->mnt_fsname);
        l->dst = savestring(e->mnt_dir);
        l->type = savestring(e->mnt_type);
        if (mount_parse(opts, l, &bad) != 0) {
            if (!quiet)
                builtin_error("%s: option %s: not done here, run mount(8)", l->dst, bad);
            rc = EX_USAGE;
        }
        free(opts);
        if (rc != EXECUTION_SUCCESS)
            break;
    }
    endmntent(f);
    for (i = 0; i < n && rc == EXECUTION_SUCCESS; i++) {
        struct mount_line *l = &lines[i];
        unsigned long change = l->flags & ~(MS_BIND | MS_REC);
        if (l->skip)
            continue;
        if (l->mkdir && mount_mkdir(l->dst, l->mkdir_mode) != 0) {
            builtin_error("%s: cannot make the mount point: %s", l->dst, strerror(errno));
            rc = EXECUTION_FAILURE;
        } else if (l->flags & MS_BIND) {
            if (mount(l->src, l->dst, NULL, l->flags, NULL) != 0 ||
                (change && mount("none", l->dst, NULL, MS_REMOUNT | MS_BIND | change, NULL) != 0)) {
                builtin_error("%s on %s: %s", l->src, l->dst, strerror(errno));
                rc = EXECUTION_FAILURE;
            }
        } else if (mount(l->src, l->dst, l->type, l->flags, l->data[0] ? l->data : NULL) != 0) {
            builtin_error("%s on %s (%s): %s", l->src, l->dst, l->type, strerror(errno));
            rc = EXECUTION_FAILURE;
        }
    }
    for (i = 0; i < n; i++) {
        free(lines[i].src);
        free(lines[i].dst);
        free(lines[i].type);
        free(lines[i].data);
    }
    free(lines);
    return rc;
}

/* hostname [NAME]: prints the host name, or sets it to NAME. */
static int hostname_builtin(WORD_LIST *list)
{
    char name[HOST_NAME_MAX + 1];

    if (list && (list->next || list->word->word[0] == '-')) {
        builtin_usage();
        return EX_USAGE;
    }
    if (!list) {
        if (gethostname(name, sizeof(name)) != 0) {
            builtin_error("%s", strerror(errno));
            return EXECUTION_FAILURE;
        }
        name[sizeof(name) - 1] = '\0';
        printf("%s\n", name);
        return sh_chkwrite(EXECUTION_SUCCESS);
    }
    if (sethostname(list->word->word, strlen(list->word->word)) != 0) {
        builtin_error("%s: %s", list->word->word, strerror(errno));
        return EXECUTION_FAILURE;
    }
    return EXECUTION_SUCCESS;
}

/* ip_batch: what `ip -batch -` does with these lines on stdin, over one rtnetlink
 * socket of this process (the hooks' container side):
 *   link set DEV [mtu N] [up|down]
 *   addr add A.B.C.D/P dev DEV
 *   route add default|A.B.C.D/P [via A.B.C.D] [dev DEV] [scope link]
 * as ip(8) sends them (proto boot, main table; a route without via has scope link). All
 * lines are read first: anything else makes it fail with status 2 having done nothing
 * (and saying why, unless -q), so the caller can run ip(8) instead. */
struct nl_req {
    struct nlmsghdr h;
    union {
        struct ifinfomsg i;
        struct ifaddrmsg a;
        struct rtmsg r;
    } m;
    char attrs[256];
};

static void nl_attr(struct nl_req *q, unsigned short type, const void *data, unsigned short len)
{
    struct rtattr *a = (struct rtattr *)((char *)q + NLMSG_ALIGN(q->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    q->h.nlmsg_len = NLMSG_ALIGN(q->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* A.B.C.D[/P]: the address, and the prefix (32 without one; -1 for "default"). */
static int ip_parse_prefix(const char *s, struct in_addr *a, int *plen)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    unsigned long p = 32;

    if (strcmp(s, "default") == 0) {
        a->s_addr = 0;
        *plen = 0;
        return 0;
    }
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    if (slash) {
        buf[slash - s] = '\0';
        if (parse_number(slash + 1, 10, 32, &p) != 0)
            return -1;
    }
    *plen = (int)p;
    return inet_pton(AF_INET, buf, a) == 1 ? 0 : -1;
}

/* Opens a nested attribute; nl_nest_end closes it. */
static struct rtattr *nl_nest(struct nl_req *q, unsigned short type)
{
    struct rtattr *a = (struct rtattr *)((char *)q + NLMSG_ALIGN(q->h.nlmsg_len));
    nl_attr(q, type, NULL, 0);
    return a;
}

static void nl_nest_end(struct nl_req *q, struct rtattr *a)
{
    a->rta_len = (unsigned short)((char *)q + q->h.nlmsg_len - (char *)a);
}

/* link add name DEV [mtu N] type veth peer name PEER [mtu N] [netns PID], as ip(8) sends
 * it: the peer's attributes after an ifinfomsg of its own in VETH_INFO_PEER. */
static int ip_parse_veth(char **w, int n, struct nl_req *q)
{
    unsigned long v;
    unsigned int mtu;
    int i = 2, pid;
    struct rtattr *info, *data, *peer;
    struct ifinfomsg pi = {.ifi_family = AF_UNSPEC};

    q->h.nlmsg_type = RTM_NEWLINK;
    q->h.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
    q->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    q->m.i.ifi_family = AF_UNSPEC;
    if (i + 1 >= n || strcmp(w[i], "name") != 0 || strlen(w[i + 1]) >= IFNAMSIZ)
        return -1;
    nl_attr(q, IFLA_IFNAME, w[i + 1], (unsigned short)(strlen(w[i + 1]) + 1));
    i += 2;
    if (i + 1 < n && strcmp(w[i], "mtu") == 0) {
        if (parse_number(w[i + 1], 10, 65535, &v) != 0)
            return -1;
        mtu = (unsigned int)v;
        nl_attr(q, IFLA_MTU, &mtu, sizeof(mtu));
        i += 2;
    }
    if (i + 4 >= n || strcmp(w[i], "type") != 0 || strcmp(w[i + 1], "veth") != 0 ||
        strcmp(w[i + 2], "peer") != 0 || strcmp(w[i + 3], "name") != 0 ||
        strlen(w[i + 4]) >= IFNAMSIZ)
        return -1;
    info = nl_nest(q, IFLA_LINKINFO);
    nl_attr(q, IFLA_INFO_KIND, "veth", 4);
    data = nl_nest(q, IFLA_INFO_DATA);
    peer = nl_nest(q, 1 /* VETH_INFO_PEER */);
    memcpy((char *)q + q->h.nlmsg_len, &pi, sizeof(pi));
    q->h.nlmsg_len += NLMSG_ALIGN(sizeof(pi));
    nl_attr(q, IFLA_IFNAME, w[i + 4], (unsigned short)(strlen(w[i + 4]) + 1));
    for (i += 5; i < n; i += 2) {
        if (i + 1 >= n)
            return -1;
        if (strcmp(w[i], "mtu") == 0 && parse_number(w[i + 1], 10, 65535, &v) == 0) {
            mtu = (unsigned int)v;
            nl_attr(q, IFLA_MTU, &mtu, sizeof(mtu));
        } else if (strcmp(w[i], "netns") == 0 && parse_number(w[i + 1], 10, INT_MAX, &v) == 0) {
            pid = (int)v;
            nl_attr(q, IFLA_NET_NS_PID, &pid, sizeof(pid));
        } else {
            return -1;
        }
    }
    nl_nest_end(q, peer);
    nl_nest_end(q, data);
    nl_nest_end(q, info);
    return 0;
}

/* A device's index; with CHECK only whether NAME can be one (the lines are all checked
 * before any is sent, and a device may be made by an earlier line). */
static unsigned int ip_dev(const char *name, int check)
{
    if (check)
        return *name && strlen(name) < IFNAMSIZ ? 1 : 0;
    return if_nametoindex(name);
}

/* One line into Q; -1 for a line it does not do (with CHECK: checked only, see ip_dev),
 * -2 for a device that is not there. */
static int ip_parse_line(char *line, struct nl_req *q, int check)
{
    char *w[24], *save = NULL, *t;
    int n = 0, i;
    unsigned int dev = 0;
    struct in_addr a;
    int plen;

    for (t = strtok_r(line, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
        if (n == 24)
            return -1;
        w[n++] = t;
    }
    memset(q, 0, sizeof(*q));
    q->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    if (n >= 3 && strcmp(w[0], "link") == 0 && strcmp(w[1], "add") == 0)
        return ip_parse_veth(w, n, q);
    if (n >= 3 && strcmp(w[0], "link") == 0 && strcmp(w[1], "set") == 0) {
        q->h.nlmsg_type = RTM_NEWLINK;
        q->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        q->m.i.ifi_family = AF_UNSPEC;
        if (!(dev = ip_dev(w[2], check)))
            return -2;
        q->m.i.ifi_index = (int)dev;
        for (i = 3; i < n; i++) {
            unsigned long mtu;
            if (strcmp(w[i], "up") == 0 || strcmp(w[i], "down") == 0) {
                q->m.i.ifi_change |= IFF_UP;
                q->m.i.ifi_flags = w[i][0] == 'u' ? IFF_UP : 0;
            } else if (strcmp(w[i], "mtu") == 0 && i + 1 < n &&
                       parse_number(w[i + 1], 10, 65535, &mtu) == 0) {
                unsigned int m = (unsigned int)mtu;
                nl_attr(q, IFLA_MTU, &m, sizeof(m));
                i++;
            } else {
                return -1;
            }
        }
        return 0;
    }
    if (n == 5 && strcmp(w[0], "addr") == 0 && strcmp(w[1], "add") == 0 &&
        strcmp(w[3], "dev") == 0) {
        if (ip_parse_prefix(w[2], &a, &plen) != 0 || strcmp(w[2], "default") == 0 ||
            !(dev = ip_dev(w[4], check)))
            return -2;
        q->h.nlmsg_type = RTM_NEWADDR;
        q->h.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
        q->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
        q->m.a.ifa_family = AF_INET;
        q->m.a.ifa_prefixlen = (unsigned char)plen;
        q->m.a.ifa_index = dev;
        nl_attr(q, IFA_LOCAL, &a, sizeof(a));
        nl_attr(q, IFA_ADDRESS, &a, sizeof(a));
        return 0;
    }
    if (n >= 3 && strcmp(w[0], "route") == 0 && strcmp(w[1], "add") == 0) {
        int via = 0, scope_link = 0;
        struct in_addr gw;
        if (ip_parse_prefix(w[2], &a, &plen) != 0)
            return -1;
        for (i = 3; i < n; i++) {
            if (strcmp(w[i], "via") == 0 && i + 1 < n && inet_pton(AF_INET, w[i + 1], &gw) == 1) {
                via = 1;
                i++;
            } else if (strcmp(w[i], "dev") == 0 && i + 1 < n) {
                if (!(dev = ip_dev(w[i + 1], check)))
                    return -2;
                i++;
            } else if (strcmp(w[i], "scope") == 0 && i + 1 < n && strcmp(w[i + 1], "link") == 0) {
                scope_link = 1;
                i++;
            } else {
                return -1;
            }
        }
        if (!via && !dev)
            return -1;
        q->h.nlmsg_type = RTM_NEWROUTE;
        q->h.nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
        q->h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        q->m.r.rtm_family = AF_INET;
        q->m.r.rtm_dst_len = (unsigned char)plen;
        q->m.r.rtm_table = RT_TABLE_MAIN;
        q->m.r.rtm_protocol = RTPROT_BOOT;
        q->m.r.rtm_scope = scope_link || !via ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        q->m.r.rtm_type = RTN_UNICAST;
        if (plen)
            nl_attr(q, RTA_DST, &a, sizeof(a));
        if (via)
            nl_attr(q, RTA_GATEWAY, &gw, sizeof(gw));
        if (dev)
            nl_attr(q, RTA_OIF, &dev, sizeof(dev));
        return 0;
    }
    return -1;
}

/* Sends Q and reads its ack: 0, or the negative errno. */
static int nl_talk(int fd, struct nl_req *q, unsigned int seq)
{
    char buf[4096];
    ssize_t r;

    q->h.nlmsg_seq = seq;
    if (send(fd, q, q->h.nlmsg_len, 0) < 0)
        return -errno;
    for (;;) {
        struct nlmsghdr *h;
        r = recv(fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r); h = NLMSG_NEXT(h, r)) {
            if (h->nlmsg_seq == seq && h->nlmsg_type == NLMSG_ERROR)
                return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        }
    }
}

static int ip_batch_builtin(WORD_LIST *list)
{
    char *line = NULL, **lines = NULL;
    size_t cap = 0, n = 0, i;
    struct nl_req *reqs;
    int quiet = 0, fd, rc = EXECUTION_SUCCESS;
    ssize_t len;
    FILE *in;

    if (list && strcmp(list->word->word, "-q") == 0) {
        quiet = 1;
        list = list->next;
    }
    if (list) {
        builtin_usage();
        return EX_USAGE;
    }
    in = fdopen(dup(0), "r");
    if (!in) {
        builtin_error("stdin: %s", strerror(errno));
        return EXECUTION_FAILURE;
    }
    while ((len = getline(&line, &cap, in)) >= 0) {
        if (strspn(line, " \t\n") == (size_t)len)
            continue;
        lines = xrealloc(lines, (n + 1) * sizeof(*lines));
        lines[n++] = savestring(line);
    }
    free(line);
    fclose(in);
    reqs = xmalloc((n ? n : 1) * sizeof(*reqs));
    for (i = 0; i < n && rc == EXECUTION_SUCCESS; i++) {
        char *copy = savestring(lines[i]);
        if (ip_parse_line(copy, &reqs[i], 1) != 0) {
            if (!quiet)
                builtin_error("line %zu: not done here, run ip(8): %s", i + 1, lines[i]);
            rc = EX_USAGE;
        }
        free(copy);
    }
    if (rc == EXECUTION_SUCCESS) {
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) {
            builtin_error("netlink: %s", strerror(errno));
            rc = EXECUTION_FAILURE;
        }
        for (i = 0; i < n && rc == EXECUTION_SUCCESS; i++) {
            char *copy = savestring(lines[i]);
            int err = ip_parse_line(copy, &reqs[i], 0) == 0 ? 0 : -ENODEV;
            free(copy);
            if (!err)
                err = nl_talk(fd, &reqs[i], (unsigned int)i + 1);
            if (err) {
                builtin_error("%s: %s", strtok(lines[i], "\n"), strerror(-err));
                rc = EXECUTION_FAILURE;
            }
        }
        if (fd >= 0)
            close(fd);
    }
    for (i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(reqs);
    return rc;
}

static char *chown_doc[] = {
    "Change the owner and group of files, without a process (warden's hooks).",
    "",
    "OWNER and GROUP are names or numbers; OWNER: is OWNER's login group. -h changes",
    "a symbolic link itself; -R descends, never following links (as chown -R -P).",
    NULL,
};
static char *mknod_doc[] = {
    "Make a device node or a FIFO, without a process (warden's hooks).",
    "",
    "-m gives the mode in octal, set whatever the umask.",
    NULL,
};

/* zygote [FD]: a fork server. Reads messages on FD (default 0, a Unix socket), each one
 * byte with three descriptors (the hook's stdin, stdout and stderr); for each it clones
 * a child with CLONE_PARENT, so the child is our parent's (its exit, status and signal
 * death are seen by our parent's waitpid, $PPID is our parent), and writes the child's
 * pid (an int, or -errno) back on FD. The child returns 0 from here with the three
 * descriptors on 0, 1 and 2 and what a shell has of its own at its start (zygote_child:
 * $$, $PPID, process group, jobs, traps, $RANDOM, $SECONDS); everything else (functions,
 * variables, options) is the zygote's, as a runner has what it read before its hook. The
 * zygote itself returns 1 at EOF on FD and 2 on an error (said on stderr). zygote -c VAR
 * (zygote_spawn): see there. */
extern time_t shell_start_time;   /* bash's: what $SECONDS counts from */
extern struct timeval shellstart; /* (bash 5.2 uses this one) */
/* bash's trap.c (no header of it is installed): trap - SIG is restore_default_signal. */
extern int signal_is_trapped(int sig);
extern void restore_default_signal(int sig);
#define ZYGOTE_TRAPS (NSIG + 3) /* EXIT (0), the signals, DEBUG, ERR and RETURN */

/* What a forked bash shares with the zygote and an exec'd one has of its own. */
static int zygote_child(int sock, const int *fds, int become)
{
    struct sched_param normal = {0};

    close(sock);
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            _exit(111);
    for (int i = 0; i < 3; i++)
        if (fds[i] > 2)
            close(fds[i]);
    /* A process group of its own (the runner's; our parent sets it too, so that a kill of
     * the group right after it learns the pid finds it), but for the children of a
     * zygote -c, which stay in its group as exec'd hooks stay in their caller's; the
     * normal policy. */
    if (!become)
        setpgid(0, 0);
    sched_setscheduler(0, SCHED_OTHER, &normal);
    /* $$, $PPID and the job bookkeeping are set once at a shell's start: a shell's own. */
    dollar_dollar_pid = getpid();
    shell_pgrp = dollar_dollar_pid;
    pipeline_pgrp = 0;
    delete_all_jobs(0);
    last_asynchronous_pid = last_made_pid = NO_PID;
    subshell_environment = 0;
    subshell_level = 0;
    set_ppid();
    /* No trap: a shell starts without (and the hook's own are set afresh). */
    for (int sig = 0; sig < ZYGOTE_TRAPS; sig++)
        if (signal_is_trapped(sig))
            restore_default_signal(sig);
    /* $RANDOM (seeded from the time and pid at a start, the zygote's otherwise) and
     * $SECONDS (from the shell's start). */
    seedrand();
    seedrand32();
    gettimeofday(&shellstart, NULL);
    shell_start_time = shellstart.tv_sec;
    return EXECUTION_SUCCESS;
}

/* In a child of zygote -c: the hook, from a clean slate of options, then the end. */
static void zygote_become(void)
{
    char *code = savestring("set +euvx +o pipefail\n" HOOKRUN_BECOME_HOOK "exit\n");

    exit_shell(evalstring(code, "warden-hook", SEVAL_NOHIST));
}

/* Serve forks on sock until EOF (1) or an error (2); in each child, 0 (or, with become,
 * the hook, and no return). */
static int zygote_serve(int sock, int become)
{
    for (;;) {
        char byte, cbuf[CMSG_SPACE(3 * sizeof(int))];
        struct iovec iov = {&byte, 1};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        int fds[3] = {-1, -1, -1}, nfds = 0, reply;
        struct cmsghdr *c;
        ssize_t n;
        pid_t pid;

        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) /* the parent went away: EOF */
            return EXECUTION_FAILURE;
        if (n < 0) {
            builtin_error("receive: %s", strerror(errno));
            return EX_USAGE;
        }
        for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), got[4];

                if (k > 4)
                    k = 4;
                memcpy(got, CMSG_DATA(c), (size_t)k * sizeof(int));
                for (int i = 0; i < k; i++) {
                    if (nfds < 3)
                        fds[nfds] = got[i];
                    else
                        close(got[i]);
                    nfds++;
                }
            }
        if (nfds != 3 || (msg.msg_flags & MSG_CTRUNC)) {
            reply = -EINVAL;
        } else {
            fflush(stdout);
            fflush(stderr);
            pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
            if (pid == 0) {
                zygote_child(sock, fds, become);
                if (become)
                    zygote_become();
                return EXECUTION_SUCCESS;
            }
            reply = pid > 0 ? (int)pid : -errno;
        }
        for (int i = 0; i < 3 && i < nfds; i++)
            close(fds[i]);
        while (write(sock, &reply, sizeof(reply)) < 0)
            if (errno == EPIPE || errno == ECONNRESET) {
                return EXECUTION_FAILURE; /* as at EOF: the parent went away */
            } else if (errno != EINTR) {
                builtin_error("reply: %s", strerror(errno));
                return EX_USAGE;
            }
    }
}

/* zygote -c VAR: a zygote of our own (a plain fork: our child, and so the child of what
 * we exec next), whose children become hooks by themselves; VAR is our end of its
 * socket, kept across exec. Status 0 whatever happens (VAR empty when it could not
 * start): the caller runs its hooks without it then. */
static int zygote_spawn(const char *var)
{
    int sv[2], null;
    pid_t pid;

    bind_variable(var, "", 0);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        builtin_warning("socketpair: %s", strerror(errno));
        return EXECUTION_SUCCESS;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        builtin_warning("fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return EXECUTION_SUCCESS;
    }
    if (pid == 0) {
        /* It holds none of our caller's descriptors: what waits for their EOF (wardend,
         * on the stderr of the hook that runs us) does not wait for it. */
        close(sv[0]);
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int i = 0; i < 3 && null >= 0; i++)
            dup2(null, i);
        if (null > 2)
            close(null);
        _exit(zygote_serve(sv[1], 1) == EXECUTION_FAILURE ? 0 : 1);
    }
    close(sv[1]);
    if (fcntl(sv[0], F_SETFD, 0) < 0) {
        close(sv[0]);
        return EXECUTION_SUCCESS;
    }
    bind_variable(var, itos(sv[0]), 0);
    return EXECUTION_SUCCESS;
}

static int zygote_builtin(WORD_LIST *list)
{
    char *end;
    long v;

    if (list && strcmp(list->word->word, "-c") == 0) {
        if (!list->next || list->next->next || !legal_identifier(list->next->word->word)) {
            builtin_usage();
            return EX_USAGE;
        }
        return zygote_spawn(list->next->word->word);
    }
    if (!list)
        return zygote_serve(0, 0);
    v = strtol(list->word->word, &end, 10);
    if (list->next || *end || end == list->word->word || v < 0 || v > INT_MAX) {
        builtin_usage();
        return EX_USAGE;
    }
    return zygote_serve((int)v, 0);
}

/* The names bash looks up: NAME_struct. */
extern struct builtin chown_struct, mknod_struct, mount_fstab_struct, hostname_struct,
    ip_batch_struct, zygote_struct, skel_copy_struct;
struct builtin chown_struct = {
    "chown",
    chown_builtin,
    BUILTIN_ENABLED,
    chown_doc,
    "chown [-R] [-h] OWNER[:[GROUP]] FILE...  or  chown [-R] [-h] :GROUP FILE...",
    0,
};
struct builtin mknod_struct = {
    "mknod",
    mknod_builtin,
    BUILTIN_ENABLED,
    mknod_doc,
    "mknod [-m OCTAL_MODE] NAME c|u|b MAJOR MINOR  or  mknod [-m OCTAL_MODE] NAME p",
    0,
};
static char *mount_fstab_doc[] = {
    "Mount what FSTAB lists, as mount -a -T FSTAB, without a process (warden's hooks).",
    "",
    "Status 2, nothing mounted, for an option it does not do (-q: silently): run",
    "mount(8) then.",
    NULL,
};
struct builtin mount_fstab_struct = {
    "mount_fstab",   mount_fstab_builtin,      BUILTIN_ENABLED,
    mount_fstab_doc, "mount_fstab [-q] FSTAB", 0,
};
static char *hostname_doc[] = {
    "Print the host name, or set it to NAME, without a process (warden's hooks).",
    NULL,
};
struct builtin hostname_struct = {
    "hostname", hostname_builtin, BUILTIN_ENABLED, hostname_doc, "hostname [NAME]", 0,
};
static char *ip_batch_doc[] = {
    "Apply ip -batch lines read from stdin (link set, addr add, route add) over",
    "rtnetlink, without a process (warden's hooks). Status 2, nothing done, for a",
    "line it does not do (-q: silently): run ip(8) then.",
    NULL,
};
struct builtin ip_batch_struct = {
    "ip_batch", ip_batch_builtin, BUILTIN_ENABLED, ip_batch_doc, "ip_batch [-q] <BATCH", 0,
};
static char *skel_copy_doc[] = {
    "Copy the skeleton directory SRC to DST (which must not exist) as cp -a SRC/. DST",
    "would, without a process (warden's setup.sh): only directories and plain files of",
    "ours, modes and contents kept, .gitkeep files left out. Status 2, nothing made, for",
    "anything else in SRC (-q: silently): run cp -a then.",
    NULL,
};
struct builtin skel_copy_struct = {
    "skel_copy", skel_copy_builtin, BUILTIN_ENABLED, skel_copy_doc, "skel_copy [-q] SRC DST", 0,
};
static char *zygote_doc[] = {
    "Serve forks of this shell: for each message on FD (default 0, a Unix socket) with",
    "three descriptors, clone a child of this shell's parent (CLONE_PARENT) that returns",
    "status 0 with them on 0, 1 and 2, its own $$, $PPID, process group and $RANDOM;",
    "its pid goes back on FD. Returns 1 at EOF on FD, 2 on an error (warden's hook runner).",
    "",
    "-c VAR: fork a zygote of this shell (a child of this process, and of what it execs)",
    "whose children run a hook runner's request themselves, in its process group, with a",
    "fresh shell's options; VAR is its socket's descriptor here (kept across exec), or",
    "empty.",
    NULL,
};
struct builtin zygote_struct = {
    "zygote", zygote_builtin, BUILTIN_ENABLED, zygote_doc, "zygote [FD]  or  zygote -c VAR", 0,
};
