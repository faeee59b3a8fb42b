/* The hook runner: a bash started ahead of need, before its hook is known, that has
 * sourced the hook libraries (the lib/NAME.sh files that say "# hook-runner: preload") and waits on
 * its stdin for one request; then it becomes that hook: it sources the hook file afresh
 * (or execs it when its first line names no bash), as its own process, so the hook has
 * its own $$, exit status, signals and process group exactly as when exec'd. What a
 * create waits for is then the hook's own work, not bash's start and the libraries'
 * parse (doc/hooks.md, "How hooks run"). The daemon checks the libraries are unchanged
 * since the runner read them before it hands one a hook (edits apply at once).
 *
 * The zygote: one such bash that has loaded warden-builtins.so's zygote builtin and,
 * instead of becoming one hook, forks a child per hook that becomes it (clone with
 * CLONE_PARENT: the hook is the caller's child, as a runner is, with its own $$, $PPID,
 * process group, $RANDOM and $SECONDS); so no bash starts per hook. */
#ifndef W_HOOKRUN_H
#define W_HOOKRUN_H

#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

#define HOOKRUN_LIBS 16

struct hookrun_stamp {
    char name[64];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct hookrun {
    pid_t pid; /* 0: none */
    int req;   /* our end of its stdin (a socket) */
    int ready; /* it said it has read the libraries */
    int sent;  /* it has its request */
    int keep;  /* the request's memfd (hookrun_send), or -1 */
    int nlibs; /* -1: more libraries than HOOKRUN_LIBS (never current) */
    struct hookrun_stamp libs[HOOKRUN_LIBS];
};

/* Start a runner for the hooks of dir with environment envp, stdout out_fd and stderr
 * err_fd (spawnp's conventions), leading a process group of its own if pgroup. */
int hookrun_start(struct hookrun *r, const char *dir, char *const *envp, int out_fd, int err_fd,
                  int pgroup, struct w_error *err);
/* Start a zygote for the hooks of dir: hookrun_start's, with the builtins from builtins
 * (a path), stdout /dev/null and stderr err_fd, leading a process group. Ready (once it
 * has read the libraries) as a runner is; it ends at EOF on its socket (hookrun_discard
 * kills it). Without the builtin it exits 112 before it is ready. */
int hookrun_zygote_start(struct hookrun *z, const char *dir, const char *builtins,
                         char *const *envp, int err_fd, struct w_error *err);
/* 1 once r has read the libraries and waits (it said so on its socket), else 0. */
int hookrun_ready(struct hookrun *r);
/* 1 if dir's libraries are as they were when r started, so r may serve a hook; else 0. */
int hookrun_current(const struct hookrun *r, const char *dir);
/* Hand r its hook: path, log ("" or NULL: stdout stays as started), args and env
 * ("K=V", exported; each NULL-terminated, may be NULL). A long request goes through a
 * memfd named by /proc/<our pid>/fd/N (so only from the host's pid namespace). On -1 r
 * is unusable: discard it and run the hook directly. */
int hookrun_send(struct hookrun *r, const char *path, const char *log, const char *const *args,
                 char *const *env, struct w_error *err);
/* Fork a hook from the ready zygote z: r becomes it (r->pid the caller's child, leading a
 * process group if pgroup (the zygote's children lead one, those of a zygote -c stay
 * in its group); its stdout out_fd (-1: /dev/null), its stderr err_fd), and has its
 * request as hookrun_send gives it. Waits for the zygote's answer (at most 2 s). On -1
 * no hook runs (a child that did not get all of its request is killed and reaped): z
 * may be unusable (discard it), and the hook is to be run directly. */
int hookrun_fork(struct hookrun *z, struct hookrun *r, int pgroup, int out_fd, int err_fd,
                 const char *path, const char *log, const char *const *args, char *const *env,
                 struct w_error *err);
/* Once its hook has ended (or r is given up): close what the request still holds. */
void hookrun_release(struct hookrun *r);
/* Kill an unused runner's process group (the caller reaps it) and forget it. */
void hookrun_discard(struct hookrun *r);

#endif
