/* Runs in wardend's loop. Each subscriber is a request that never completes: a line is
 * sent to it per event, and the server's cancel callback unsubscribes it when its
 * connection closes. A subscriber whose client reads too slowly (more than
 * REQ_BACKLOG_HIGH bytes queued) misses events rather than growing wardend's memory;
 * it is told how many with a "lost" event once it catches up; its socket's kernel
 * buffer is kept small, so that the backlog, not the kernel, holds what it has not
 * read. A client that closed its socket without reading is noticed at the next event
 * it is sent (the write fails). */
#include "events.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <sys/time.h>

#include "log.h"
#include "req.h"

struct sub {
    struct req *req;
    long long lost; /* events dropped while the client was behind */
    struct sub *next;
};

#define EVENTS_SNDBUF (64 << 10) /* the kernel doubles it */

static struct sub *subs;

static double now_s(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static struct json_object *event_new(const char *event, const char *handle)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "event", json_object_new_string(event));
    if (handle)
        json_object_object_add(o, "handle", json_object_new_string(handle));
    json_object_object_add(o, "time", json_object_new_double(now_s()));
    return o;
}

/* Send ev (borrowed) to one subscriber, or count it as lost. */
static void send_one(struct sub *s, struct json_object *ev)
{
    if (req_backlog(s->req) >= REQ_BACKLOG_HIGH) {
        s->lost++;
        return;
    }
    if (s->lost) {
        struct json_object *lost = event_new("lost", NULL);
        json_object_object_add(lost, "count", json_object_new_int64(s->lost));
        req_send(s->req, lost);
        s->lost = 0;
    }
    req_send(s->req, json_object_get(ev));
}

/* ev is consumed. Sending only queues (the server writes from its loop), so no
 * subscriber goes away during the walk. */
static void publish(struct json_object *ev)
{
    for (struct sub *s = subs; s; s = s->next)
        send_one(s, ev);
    json_object_put(ev);
}

void events_publish(const char *handle, const char *event)
{
    if (subs)
        publish(event_new(event, handle));
}

void events_job_exited(const char *handle, long long job_id, int exit_status)
{
    struct json_object *ev;

    if (subs == NULL)
        return;
    ev = event_new("job exited", handle);
    json_object_object_add(ev, "job_id", json_object_new_int64(job_id));
    json_object_object_add(ev, "exit_status",
                           exit_status < 0 ? NULL : json_object_new_int(exit_status));
    publish(ev);
}

static void unsubscribe(struct req *r, void *data)
{
    struct sub *s = data;

    (void)r;
    for (struct sub **p = &subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    free(s);
}

void events_subscribe(struct req *r)
{
    struct sub *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        req_error(r, "out of memory");
        return;
    }
    s->req = r;
    s->next = subs;
    subs = s;
    req_set_cancel(r, unsubscribe, s);
    /* Event lines are small: the kernel need hold few of them. With the server's big
     * buffer (for stream lines) a slow subscriber would get megabytes of stale events
     * before any were counted as lost. */
    req_set_sndbuf(r, EVENTS_SNDBUF);
    /* The first line says the subscription is in place: every event after the client
     * has read it reaches the client. */
    req_send(r, event_new("listening", NULL));
    log_msg(LOG_DEBUG, "events: a subscriber");
}
