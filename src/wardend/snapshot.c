/* Runs in wardend's loop (save) and at start-up before the socket serves (load). */
#include "snapshot.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonh.h"
#include "log.h"
#include "registry.h"
#include "util.h"

static struct json_object *(*jobs_of)(struct container *ct);

void snapshot_set_jobs(struct json_object *(*jobs)(struct container *ct))
{
    jobs_of = jobs;
}

void snapshot_save(struct container *ct)
{
    struct json_object *o = json_object_new_object();
    struct w_error err;
    char path[PATH_MAX + 32];
    size_t len;
    const char *s;

    json_object_object_add(o, "handle", json_object_new_string(ct->handle));
    json_object_object_add(o, "id", json_object_new_string(ct->id));
    json_object_object_add(o, "state", json_object_new_string(ct_state_name(ct->state)));
    json_object_object_add(o, "network_index", json_object_new_int(ct->net_index));
    json_object_object_add(o, "uid", json_object_new_int64(ct->uid));
    json_object_object_add(o, "rootfs", json_object_new_string(ct->rootfs));
    json_object_object_add(o, "grace_time",
                           ct->grace_time < 0 ? NULL : json_object_new_double(ct->grace_time));
    json_object_object_add(o, "properties", json_object_get(ct->properties));
    json_object_object_add(o, "limits", json_object_get(ct->limits));
    json_object_object_add(o, "events", json_object_get(ct->events));
    json_object_object_add(o, "jobs", jobs_of ? jobs_of(ct) : json_object_new_object());
    s = jsonh_str(o, &len);
    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    if (util_write_file_atomic(AT_FDCWD, path, s, len, &err) < 0)
        log_msg(LOG_WARNING, "container %s: snapshot: %s", ct->handle, err.msg);
    json_object_put(o);
}

/* Fill ct from its depot directory; returns 1 when the snapshot is usable. */
int snapshot_load(struct container *ct, struct json_object **snap)
{
    char path[PATH_MAX + 32];
    struct json_object *o, *v;
    struct w_error err;
    char *text;
    size_t len;
    const char *state;

    snprintf(path, sizeof(path), "%s/snapshot.json", ct->path);
    text = util_read_file(AT_FDCWD, path, 1 << 20, &len, &err);
    if (text == NULL)
        return 0;
    o = jsonh_parse(text, len, &err);
    free(text);
    if (o == NULL || strcmp(jsonh_get_str(o, "id", ""), ct->id) != 0) {
        json_object_put(o);
        return 0;
    }
    strlcpy(ct->handle, jsonh_get_str(o, "handle", ct->id), sizeof(ct->handle));
    strlcpy(ct->rootfs, jsonh_get_str(o, "rootfs", ct->rootfs), sizeof(ct->rootfs));
    ct->uid = (uid_t)jsonh_get_int(o, "uid", 0);
    v = jsonh_get(o, "grace_time");
    ct->grace_time = v ? json_object_get_double(v) : -1;
    state = jsonh_get_str(o, "state", "");
    /* Only a container that finished its create is adopted; born stays born. */
    if (strcmp(state, "active") == 0 || strcmp(state, "stopped") == 0)
        ct_set_state(ct, (enum ct_state)ct_state_from_name(state));
    if (json_object_is_type(v = jsonh_get(o, "properties"), json_type_object)) {
        json_object_put(ct->properties);
        ct->properties = json_object_get(v);
    }
    if (json_object_is_type(v = jsonh_get(o, "limits"), json_type_object)) {
        json_object_put(ct->limits);
        ct->limits = json_object_get(v);
    }
    if (json_object_is_type(v = jsonh_get(o, "events"), json_type_array)) {
        json_object_put(ct->events);
        ct->events = json_object_get(v);
    }
    *snap = o;
    return 1;
}
