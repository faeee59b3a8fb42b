/* The warden CLI's requests and replies: builds protocol requests from command-line words,
 * sends one and prints its payload readably (`key: value` lines) or raw with --json. Runs in
 * warden, as any user that can open the socket. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonh.h"

/* ---- building requests ---- */

/* A number when the whole word is an integer, else the string itself (the server then
 * names what is wrong with it). */
struct json_object *cli_num_or_str(const char *s)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s != '\0' && *end == '\0' && errno == 0)
        return json_object_new_int64(v);
    return json_object_new_string(s);
}

/* "K=V" into obj[K] = V (string, or number when asnum). */
int cli_add_kv(struct json_object *obj, const char *kv, int asnum)
{
    const char *eq = strchr(kv, '=');
    char key[256];

    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key))
        return -1;
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    json_object_object_add(obj, key,
                           asnum ? cli_num_or_str(eq + 1) : json_object_new_string(eq + 1));
    return 0;
}

struct json_object *cli_sub_object(struct json_object *obj, const char *key)
{
    struct json_object *v = jsonh_get(obj, key);

    if (v == NULL) {
        v = json_object_new_object();
        json_object_object_add(obj, key, v);
    }
    return v;
}

struct json_object *cli_request(const char *name)
{
    struct json_object *req = json_object_new_array();

    json_object_array_add(req, json_object_new_string(name));
    return req;
}

void cli_add_str(struct json_object *req, const char *s)
{
    json_object_array_add(req, json_object_new_string(s));
}

/* ---- printing replies ---- */

static void print_scalar(struct json_object *v)
{
    if (json_object_is_type(v, json_type_string))
        fwrite(json_object_get_string(v), 1, (size_t)json_object_get_string_len(v), stdout);
    else
        fputs(jsonh_str(v, NULL), stdout);
}

/* Objects as `key: value` lines, nested objects with dotted keys. */
static void print_object(struct json_object *obj, const char *prefix)
{
    json_object_object_foreach(obj, key, val)
    {
        if (val != NULL && json_object_is_type(val, json_type_object) &&
            json_object_object_length(val) > 0) {
            char p[512];
            snprintf(p, sizeof(p), "%s%s.", prefix, key);
            print_object(val, p);
            continue;
        }
        printf("%s%s: ", prefix, key);
        print_scalar(val);
        putchar('\n');
    }
}

void cli_print_payload(struct json_object *p)
{
    if (cli_json) {
        puts(jsonh_str(p, NULL));
    } else if (p != NULL && json_object_is_type(p, json_type_object)) {
        print_object(p, "");
    } else if (p != NULL && json_object_is_type(p, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(p); i++) {
            print_scalar(json_object_array_get_idx(p, i));
            putchar('\n');
        }
    } else {
        print_scalar(p);
        putchar('\n');
    }
    fflush(stdout);
}

/* Send req (consumed) and read one reply. Returns 0 with *reply set (caller puts it),
 * or an exit status with the message printed. */
int cli_call(struct client *c, struct json_object *req, struct json_object **reply,
             struct json_object **payload)
{
    struct w_error err;
    int r;

    *reply = NULL;
    r = client_send(c, req, &err);
    json_object_put(req);
    if (r < 0 || (*reply = client_recv(c, &err)) == NULL) {
        warden_complain("%s", err.msg);
        return client_exit_status(&err);
    }
    r = client_reply(*reply, payload, &err);
    if (r != 0) {
        warden_complain("%s", err.msg);
        json_object_put(*reply);
        *reply = NULL;
        return r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
    }
    return 0;
}

/* Most commands: one request, print the payload. */
int cli_simple(struct client *c, struct json_object *req)
{
    struct json_object *reply, *payload;
    int r = cli_call(c, req, &reply, &payload);

    if (r == 0)
        cli_print_payload(payload);
    json_object_put(reply);
    return r;
}
