/* The events feed: `["events"]` keeps its request open and sends one line per event
 * (doc/protocol.md) until the client goes away. The modules where containers change
 * state and jobs end publish through the two calls below; they know no subscriber, and
 * this module knows no container: a handle is all an event needs. */
#ifndef W_EVENTS_H
#define W_EVENTS_H

struct req;

/* A container event ("created", "stopped", "destroyed", or one of info's events such
 * as "oom") to every subscriber. */
void events_publish(const char *handle, const char *event);
/* A job ended: exit_status < 0 is null (killed, output limit, no status). */
void events_job_exited(const char *handle, long long job_id, int exit_status);

/* The `events` request: subscribes r until its connection goes away. */
void events_subscribe(struct req *r);

#endif
