/* warden-oci: the OCI runtime command line (runc's and crun's) backed by wardend.
 * spec.c reads a bundle's config.json into what wardend's create and spawn take;
 * state.c keeps each container's state under --root; keeper.c is the process the
 * engine sees as the container's (it runs the job and passes on its output, signals
 * and status); oci.c parses the command line and runs the commands. */
#ifndef W_OCI_H
#define W_OCI_H

#include <json-c/json.h>
#include <limits.h>
#include <sys/types.h>

#include "client.h"
#include "error.h"

#define OCI_VERSION "1.0.2"
#define DEFAULT_SOCKET "/tmp/warden.sock"

/* What a config.json asks for, in wardend's terms. */
struct spec {
    struct json_object *create;      /* create CONFIG (owned) */
    struct json_object *spawn;       /* spawn OPTS (owned) */
    char *script;                    /* the job's /bin/sh script (owned) */
    struct json_object *annotations; /* owned, may be NULL */
    int terminal;
    int rows, cols; /* process.consoleSize (0: not given) */
    char rootfs[PATH_MAX];
};

/* spec.c: read BUNDLE/config.json; every field is honoured or an error names it.
 * Warnings (fields where warden's own policy applies) go to warn(). */
int spec_load(const char *bundle, struct spec *s, void (*warn)(const char *msg),
              struct w_error *err);
void spec_free(struct spec *s);

/* state.c: ROOT/ID/state.json. */
struct oci_state {
    char id[256];
    char bundle[PATH_MAX];
    char rootfs[PATH_MAX];
    char socket[PATH_MAX];
    char created[64];
    pid_t pid;                       /* the keeper; 0: none yet */
    unsigned long long start;        /* its start time (/proc/PID/stat field 22) */
    struct json_object *annotations; /* owned */
};
enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED };

int state_dir(const char *root, const char *id, char *out, size_t cap, struct w_error *err);
int state_save(const char *dir, const struct oci_state *st, struct w_error *err);
int state_load(const char *dir, struct oci_state *st, struct w_error *err);
void state_free(struct oci_state *st);
enum oci_status state_status(const char *dir, const struct oci_state *st);
const char *state_status_name(enum oci_status s);
/* The job's host pid once started (ROOT/ID/job.json), else 0. */
pid_t state_job_pid(const char *dir);
unsigned long long proc_start_time(pid_t pid);

/* keeper.c: spawn the job of s in container id, pass its output to fds 1 and 2 and
 * signals to it; when dir is not NULL, write dir/job.json once it runs. Returns the
 * job's wait status (as waitpid's), or -1 with err set. */
int keeper_run(const char *sock, const char *id, struct spec *s, const char *dir,
               struct w_error *err);
/* process.terminal: the job runs on a pty of its own in the container, relayed to this
 * terminal of ours: keyboard from term_in, screen to term_out (the slave of the pty
 * whose master went to --console-socket, or run's own stdin and stdout), window size
 * from term_in on every SIGWINCH. Set before keeper_run; -1: no terminal. */
extern int keeper_term_in, keeper_term_out;

/* oci.c: a request to wardend at sock; the payload (a new reference) or NULL. */
struct json_object *oci_call(const char *sock, struct json_object *req, struct w_error *err);

#endif
