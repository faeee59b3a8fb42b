#include "proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonh.h"

/* A JSON null: valid JSON for which jsonh_parse has no object to return. */
static int is_json_null(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return len == 4 && memcmp(s, "null", 4) == 0;
}

enum proto_parse proto_parse_line(const char *line, size_t len, struct json_object **req,
                                  struct w_error *err)
{
    struct json_object *obj;

    *req = NULL;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    obj = jsonh_parse(line, len, err);
    if (obj == NULL && !is_json_null(line, len))
        return PROTO_BAD_JSON;
    if (!json_object_is_type(obj, json_type_array)) {
        json_object_put(obj);
        w_err(err, "invalid request");
        return PROTO_INVALID;
    }
    if (json_object_array_length(obj) == 0) {
        json_object_put(obj);
        return PROTO_EMPTY;
    }
    *req = obj;
    return PROTO_REQUEST;
}

long proto_find_line(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);

    return nl ? (long)(nl - buf) : -1;
}

static char *reply(struct json_object *obj, size_t *len)
{
    size_t n;
    const char *s = jsonh_str(obj, &n);
    char *out = malloc(n + 2);

    if (out == NULL)
        return NULL;
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

/* {"type":TYPE,"payload":PAYLOAD}\n; takes the payload reference. */
static char *reply_typed(const char *type, struct json_object *payload, size_t *len)
{
    struct json_object *o = json_object_new_object();
    char *out;

    json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "payload", payload);
    out = reply(o, len);
    json_object_put(o);
    return out;
}

char *proto_reply_object(struct json_object *payload, size_t *len)
{
    return reply_typed("object", json_object_get(payload), len);
}

char *proto_reply_error(const char *msg, size_t *len)
{
    return reply_typed("error", json_object_new_string(msg), len);
}

void proto_unknown_command(struct json_object *name, char *buf, size_t size)
{
    if (json_object_is_type(name, json_type_string)) {
        snprintf(buf, size, "unknown command \"%s\"", json_object_get_string(name));
    } else {
        size_t n;
        const char *s = name ? jsonh_str(name, &n) : "null";
        snprintf(buf, size, "unknown command %s", s);
    }
}

long long proto_job_id(struct json_object *v)
{
    if (json_object_is_type(v, json_type_int)) {
        long long id = json_object_get_int64(v);
        return id > 0 ? id : -1;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        size_t len = strlen(s);
        if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
            return -1;
        return strtoll(s, NULL, 10) > 0 ? strtoll(s, NULL, 10) : -1;
    }
    return -1;
}
