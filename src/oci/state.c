/* Each container's state as warden-oci keeps it, runc's way: a directory ROOT/ID with
 * state.json (written atomically once create has a keeper), exec.fifo (the keeper waits
 * on it until start) and job.json (the job's host pid, once it runs). The status is
 * derived, never stored: a live keeper without job.json is created, with it running;
 * a keeper gone (or its pid reused: the start time differs) is stopped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonh.h"
#include "oci.h"
#include "util.h"

int state_dir(const char *root, const char *id, char *out, size_t cap, struct w_error *err)
{
    size_t n = strlen(id);

    /* An id becomes a directory name and a wardend handle: keep it to runc's alphabet. */
    if (n == 0 || n > 200 ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_+-.") != n ||
        id[0] == '.')
        return w_err(err,
                     "invalid container id \"%.64s\": use 1-200 of [A-Za-z0-9_+-.], not "
                     "starting with a dot",
                     id);
    if (snprintf(out, cap, "%s/%s", root, id) >= (int)cap)
        return w_err(err, "--root path too long");
    return 0;
}

unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL) {
        /* after ") ": field 3 (state) on; the start time is field 22 */
        char state;
        if (sscanf(p + 2,
                   "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                   "%*d %*d %llu",
                   &state, &start) != 2 ||
            state == 'Z' || state == 'X')
            start = 0;
    }
    fclose(f);
    return start;
}

int state_save(const char *dir, const struct oci_state *st, struct w_error *err)
{
    struct json_object *o = json_object_new_object();
    char path[PATH_MAX];
    const char *s;
    size_t len;
    int r;

    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
    json_object_object_add(o, "socket", json_object_new_string(st->socket));
    json_object_object_add(o, "created", json_object_new_string(st->created));
    json_object_object_add(o, "pid", json_object_new_int(st->pid));
    json_object_object_add(o, "start", json_object_new_uint64(st->start));
    json_object_object_add(o, "annotations",
                           st->annotations ? json_object_get(st->annotations)
                                           : json_object_new_object());
    s = jsonh_str(o, &len);
    snprintf(path, sizeof(path), "%s/state.json", dir);
    r = util_write_file_atomic(AT_FDCWD, path, s, len, err);
    json_object_put(o);
    return r;
}

int state_load(const char *dir, struct oci_state *st, struct w_error *err)
{
    char path[PATH_MAX];
    struct json_object *o;
    size_t len;
    char *buf;

    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "%s/state.json", dir);
    if ((buf = util_read_file(AT_FDCWD, path, 1 << 20, &len, err)) == NULL) {
        if (err->errnum == ENOENT)
            return w_err(err, "container \"%s\" does not exist", strrchr(dir, '/') + 1);
        return -1;
    }
    o = jsonh_parse(buf, len, err);
    free(buf);
    if (o == NULL)
        return w_err_prefix(err, "%s", path);
    strlcpy(st->id, jsonh_get_str(o, "id", ""), sizeof(st->id));
    strlcpy(st->bundle, jsonh_get_str(o, "bundle", ""), sizeof(st->bundle));
    strlcpy(st->rootfs, jsonh_get_str(o, "rootfs", ""), sizeof(st->rootfs));
    strlcpy(st->socket, jsonh_get_str(o, "socket", ""), sizeof(st->socket));
    strlcpy(st->created, jsonh_get_str(o, "created", ""), sizeof(st->created));
    st->pid = (pid_t)jsonh_get_int(o, "pid", 0);
    st->start = (unsigned long long)json_object_get_uint64(jsonh_get(o, "start"));
    st->annotations = json_object_get(jsonh_get(o, "annotations"));
    json_object_put(o);
    return 0;
}

void state_free(struct oci_state *st)
{
    json_object_put(st->annotations);
    st->annotations = NULL;
}

pid_t state_job_pid(const char *dir)
{
    char path[PATH_MAX];
    struct w_error err;
    struct json_object *o;
    size_t len;
    char *buf;
    pid_t pid = 0;

    snprintf(path, sizeof(path), "%s/job.json", dir);
    if ((buf = util_read_file(AT_FDCWD, path, 4096, &len, &err)) == NULL)
        return 0;
    if ((o = jsonh_parse(buf, len, &err)) != NULL) {
        pid = (pid_t)jsonh_get_int(o, "pid", 0);
        if (pid > 0 && proc_start_time(pid) != (unsigned long long)jsonh_get_int(o, "start", -1))
            pid = -1; /* ended (or the pid was reused) */
        json_object_put(o);
    }
    free(buf);
    return pid;
}

enum oci_status state_status(const char *dir, const struct oci_state *st)
{
    char path[PATH_MAX];

    if (st->pid <= 0)
        return OCI_CREATING;
    if (proc_start_time(st->pid) != st->start)
        return OCI_STOPPED;
    snprintf(path, sizeof(path), "%s/job.json", dir);
    return access(path, F_OK) == 0 ? OCI_RUNNING : OCI_CREATED;
}

const char *state_status_name(enum oci_status s)
{
    static const char *const names[] = {"creating", "created", "running", "stopped"};
    return names[s];
}
