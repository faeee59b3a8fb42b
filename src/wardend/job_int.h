/* Shared by job.c (the job list, files, link and stream) and job_spawn.c (spawn and
 * run), and by nothing else. */
#ifndef W_JOB_INT_H
#define W_JOB_INT_H

#include <sys/types.h>

#include "job.h"

struct waiter {
    struct req *req;
    struct job *job;
    int stream;
    int base64;      /* this reply's encoding */
    int exit_status; /* stream: ["exit_status", N] before the last line */
    off_t off[2];
    int fd[2]; /* stream: the output files, opened once they exist */
    struct waiter *next;
};

struct job {
    long long id;
    struct container *ct;
    int spawned;     /* wshd accepted it */
    int done;        /* status seen */
    int exit_status; /* -1: null */
    int base64, discard;
    int wd;                /* inotify watch, -1 when none */
    int wshd_fd;           /* spawn request in flight */
    long long spawn_timer; /* until wshd answers the spawn */
    struct req *spawn_req;
    int link_after_spawn; /* run = spawn + link */
    struct waiter *waiters;
    struct job *next;
};

/* The next job id, reserving a new block on disk when needed; -1 on error. */
long long job_next_id(struct w_error *err);
/* Read jobs/<n>/status if it is there: 1 when the job has ended. */
int job_read_status(struct job *j);
/* An inotify watch on the job's directory, for new bytes and the status. */
int job_watch(struct job *j);
/* A link (stream = 0) or stream of r on j; ends at once if j has ended. base64: the
 * reply's encoding, -1 for the job's own; exit_status: see cmd_stream. */
int job_add_waiter(struct job *j, struct req *r, int stream, int base64, int exit_status,
                   struct w_error *err);
/* The spawned job of argument 2 of r in ct, or NULL with "no such job". */
struct job *job_arg(struct req *r, struct container *ct, struct w_error *err);
/* Unlink j from its container's list and free it. */
void job_remove(struct job *j);

#endif
