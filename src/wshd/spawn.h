/* Starting a process for a request: validation of user, env and rlimits in wshd
 * (so a bad request gets an error reply), then fork and the child's setup. */
#ifndef W_WSHD_SPAWN_H
#define W_WSHD_SPAWN_H

#include <json-c/json.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "error.h"
#include "passwd.h"

#define SPAWN_MAX_RLIMITS 16

struct spawn_opts {
    struct pw_user user;
    char **argv;             /* NULL-terminated; borrowed */
    const char *path;        /* program to exec instead of argv[0], or NULL */
    struct json_object *env; /* object of strings, or NULL; borrowed */
    const char *term;        /* TERM, or NULL */
    struct {
        int resource;
        rlim_t value;
    } rlimits[SPAWN_MAX_RLIMITS];
    int nrlimits;
    int fds[3]; /* become 0, 1, 2 of the child; borrowed */
    int ctty;   /* fds[0] is a pty slave: make it the controlling tty */
};

/* Fill opts->user, opts->env and opts->rlimits from the request's "user", "env" and
 * "rlimits" (validated field by field; the error names the field). */
int spawn_parse_common(struct json_object *req, struct spawn_opts *opts, struct w_error *err);
/* A pty pair in the container's /dev/pts of rows x cols, the slave owned by uid. */
int spawn_open_pty(int rows, int cols, uid_t uid, int *master, int *slave, struct w_error *err);
/* Start a child (clone, sharing memory until exec) that sets itself up as
 * doc/wshd-protocol.md says and execs argv
 * (PATH lookup when argv[0] has no '/'; exit 127 if exec fails). Returns its pid. */
pid_t spawn_start(const struct spawn_opts *opts, struct w_error *err);

#endif
