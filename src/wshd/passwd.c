/* Parse the container's /etc/passwd and /etc/group ourselves. Runs in wshd (pid 1 of
 * the container, after pivot_root) before it forks a process for a request. */
#include "config.h"

#include "passwd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PASSWD_FILE_MAX (4 * 1024 * 1024)

/* Split line at ':' into at most n fields; returns the field count. */
static int split_fields(char *line, char **f, int n)
{
    int k = 0;

    f[k++] = line;
    for (char *p = line; *p && k < n; p++) {
        if (*p == ':') {
            *p = '\0';
            f[k++] = p + 1;
        }
    }
    return k;
}

static int parse_id(const char *s, unsigned long *out)
{
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || *out > 0x7fffffffUL)
        return -1;
    return 0;
}

static char *read_etc(const char *root, const char *file, struct w_error *err)
{
    char path[PATH_MAX];
    size_t len;

    if (snprintf(path, sizeof(path), "%s/etc/%s", root, file) >= (int)sizeof(path)) {
        w_err(err, "path too long: %s/etc/%s", root, file);
        return NULL;
    }
    return util_read_file(AT_FDCWD, path, PASSWD_FILE_MAX, &len, err);
}

static int find_passwd(char *buf, const char *name, struct pw_user *u, struct w_error *err)
{
    char *save = NULL;

    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[7];
        unsigned long uid, gid;

        if (split_fields(line, f, 7) != 7 || strcmp(f[0], name) != 0)
            continue;
        if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
            return w_err(err, "user %s: bad uid or gid in /etc/passwd", name);
        u->uid = (uid_t)uid;
        u->gid = (gid_t)gid;
        strlcpy(u->home, *f[5] ? f[5] : "/", sizeof(u->home));
        strlcpy(u->shell, *f[6] ? f[6] : "/bin/sh", sizeof(u->shell));
        return 0;
    }
    return w_err(err, "unknown user %s", name);
}

static int member_of(char *members, const char *name)
{
    char *save = NULL;

    for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
        if (strcmp(m, name) == 0)
            return 1;
    return 0;
}

/* Supplementary groups: the primary gid, then every group listing the user. */
static void find_groups(char *buf, struct pw_user *u)
{
    char *save = NULL;

    u->groups[0] = u->gid;
    u->ngroups = 1;
    if (buf == NULL)
        return;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[4];
        unsigned long gid;

        if (split_fields(line, f, 4) != 4 || parse_id(f[2], &gid) < 0)
            continue;
        if ((gid_t)gid == u->gid || !member_of(f[3], u->name))
            continue;
        if (u->ngroups < PASSWD_MAX_GROUPS)
            u->groups[u->ngroups++] = (gid_t)gid;
    }
}

int passwd_lookup(const char *root, const char *name, struct pw_user *u, struct w_error *err)
{
    w_autofree char *pw = NULL;
    w_autofree char *gr = NULL;
    struct w_error gerr;

    memset(u, 0, sizeof(*u));
    if (*name == '\0' || strchr(name, ':') || strchr(name, '\n') ||
        strlcpy(u->name, name, sizeof(u->name)) >= sizeof(u->name))
        return w_err(err, "invalid user name");
    if (strcmp(root, "/") == 0)
        root = "";
    pw = read_etc(root, "passwd", err);
    if (pw == NULL)
        return w_err_prefix(err, "user %s", name);
    if (find_passwd(pw, name, u, err) < 0)
        return -1;
    gr = read_etc(root, "group", &gerr); /* no /etc/group: just the primary gid */
    find_groups(gr, u);
    return 0;
}
