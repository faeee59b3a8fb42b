/* Loadable bash builtins for the hooks (`enable -f warden-builtins.so chown mknod`,
 * lib/common.sh): chown and mknod, the two tools on the create path that bash's own
 * loadables (Debian bash-builtins) lack, run without a process. Each takes the subset
 * of its coreutils namesake that the hooks use and refuses anything else with a usage
 * error (status 2), so a hook that needs more says so instead of doing something else:
 *   chown [-R] [-h] OWNER[:[GROUP]] | :GROUP FILE...   (names or numbers; -R never
 *         follows a symbolic link and changes links themselves, as coreutils' -R -P)
 *   mknod [-m OCTAL_MODE] NAME c|u|b MAJOR MINOR | NAME p   (-m: exactly that mode)
 * Built against bash's headers (pkg-config bash); not linked with the rest of warden. */
/* What bash's loadables.h includes, in its order (Debian ships that file outside the
 * header path). */
/* clang-format off */
#include "config.h"
#include "builtins.h"
#include "shell.h"
#include "bashgetopt.h"
#include "common.h"
/* clang-format on */

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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

/* The names bash looks up: NAME_struct. */
extern struct builtin chown_struct, mknod_struct;
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
