/* Users of the container, resolved from its own /etc/passwd and /etc/group
 * (never NSS: the container's files are the only truth, and wshd is static-ish). */
#ifndef W_WSHD_PASSWD_H
#define W_WSHD_PASSWD_H

#include <limits.h>
#include <sys/types.h>

#include "error.h"

#define PASSWD_MAX_GROUPS 64

struct pw_user {
    char name[64];
    uid_t uid;
    gid_t gid;
    char home[PATH_MAX];
    char shell[PATH_MAX];
    gid_t groups[PASSWD_MAX_GROUPS]; /* supplementary groups, primary gid first */
    int ngroups;
};

/* Look name up in root/etc/passwd and root/etc/group (root "" or "/" for the current
 * root). Fills *u; returns -1 with err set ("unknown user NAME") otherwise. */
int passwd_lookup(const char *root, const char *name, struct pw_user *u, struct w_error *err);

#endif
