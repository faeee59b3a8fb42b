/* The hook runner: runs one script of server.hooks_path asynchronously with a clean
 * environment and a timeout, appends its output to a log file with a timestamp and its
 * duration, and reports failure as one precise sentence. */
#ifndef W_HOOK_H
#define W_HOOK_H

#include "error.h"

/* error is NULL on success, else e.g. "hook net.sh exited with status 2: <last stderr line>". */
typedef void hook_cb(void *data, const char *error);

/* Run hooks_path/name with args (NULL-terminated, may be NULL) and env (NULL-terminated
 * "K=V" strings; PATH is added). Output goes to log_path (appended; NULL: discarded).
 * cb runs exactly once, later, from the loop. */
int hook_run(const char *name, const char *const *args, char *const *env, const char *log_path,
             hook_cb *cb, void *data, struct w_error *err);
/* hook_run's (no args), for a hook that starts before its log file can exist: its output,
 * stdout and stderr (stdout is /dev/null in a runner), is kept (64 KiB at most) until
 * hook_log_open names the file. *hp is the hook until cb runs. */
struct hook;
int hook_run_log_later(const char *name, char *const *env, hook_cb *cb, void *data,
                       struct hook **hp, struct w_error *err);
/* The file of a hook of hook_run_log_later, once it can be opened: "begin NAME", then
 * what it wrote so far, go there, and from now on the rest, as hook_run's. */
void hook_log_open(struct hook *h, const char *log_path);
/* A hook of hook_run_log_later has no deadline until this: it waits for another hook
 * (start.sh for setup.sh), which has its own, so the one it waits for is the one that
 * times out, and its hook_timeout counts from that one's end. */
void hook_start_clock(struct hook *h);
/* Synchronous variant for start-up work; returns 0 or -1 with err set as above. */
int hook_run_sync(const char *name, const char *const *args, char *const *env, const char *log_path,
                  struct w_error *err);
/* How many hooks are running now (the warm pool waits for 0 before a refill). */
int hook_running(void);
/* Reap exited children and complete their hooks: call on every SIGCHLD. */
void hook_reap(void);

#endif
