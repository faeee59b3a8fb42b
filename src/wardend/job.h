/* Jobs: spawn through the container's wshd, which owns the process and writes
 * jobs/<n>/{stdout,stderr,status}; link and stream are served from those files,
 * followed with inotify, so nothing depends on wardend staying up. */
#ifndef W_JOB_H
#define W_JOB_H

#include <json-c/json.h>

#include "error.h"

struct container;
struct req;

int job_init(struct w_error *err);
/* Ids of the container's jobs that have not ended (for info). New reference. */
struct json_object *job_running_ids(struct container *ct);
/* The container is being destroyed: end every link and stream with what the files hold. */
void job_container_stopping(struct container *ct);
/* The container is gone: free its jobs. */
void job_container_gone(struct container *ct);

/* Options of jobs that a restart must know (base64, discard), as a new object. */
struct json_object *job_snapshot(struct container *ct);
/* After a restart: take up every job in the container's jobs/ directory. */
void job_restore(struct container *ct, struct json_object *snapshot);

/* Argument checks of spawn and run (the command table's check column). */
int job_check_spawn(struct req *r, struct w_error *err);
/* The handlers: -1 with err when the request fails at once (the command layer replies),
 * else the job replies later (spawn's id, link's status, stream's last line). */
int cmd_spawn(struct req *r, struct container *ct, struct w_error *err);
int cmd_run(struct req *r, struct container *ct, struct w_error *err);
int cmd_link(struct req *r, struct container *ct, struct w_error *err);
int cmd_stream(struct req *r, struct container *ct, struct w_error *err);

/* job_io.c: signal H J SIG, stdin H J DATA [OPTS], resize H J ROWS COLS. */
int job_check_signal(struct req *r, struct w_error *err);
int job_check_stdin(struct req *r, struct w_error *err);
int job_check_resize(struct req *r, struct w_error *err);
int cmd_signal(struct req *r, struct container *ct, struct w_error *err);
int cmd_stdin(struct req *r, struct container *ct, struct w_error *err);
int cmd_resize(struct req *r, struct container *ct, struct w_error *err);

#endif
