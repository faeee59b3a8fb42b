#include "jsonh.h"

#include <ctype.h>

#include "util.h"

struct json_object *jsonh_parse(const char *buf, size_t len, struct w_error *err)
{
    struct json_tokener *tok;
    struct json_object *obj;
    enum json_tokener_error jerr;
    size_t used;

    if (len > (size_t)INT32_MAX) {
        w_err(err, "JSON text too long");
        return NULL;
    }
    /* json-c's own check (JSON_TOKENER_VALIDATE_UTF8) lets overlong forms and
     * surrogates through and cost more than the parse itself; whatever we accept may be
     * echoed back in a reply that must be valid UTF-8. So: ours, and not theirs. */
    used = util_utf8_valid_len(buf, len);
    if (used < len) {
        w_err(err, "invalid UTF-8 at offset %zu", used);
        return NULL;
    }
    tok = json_tokener_new_ex(64);
    if (tok == NULL) {
        w_err(err, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    used = json_tokener_get_parse_end(tok);
    if (obj == NULL && jerr == json_tokener_continue) {
        /* Complete input is known: a value that needs more is cut off. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        used = len;
    }
    json_tokener_free(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        json_object_put(obj);
        w_err(err, "%s",
              json_tokener_error_desc(
                  jerr == json_tokener_success ? json_tokener_error_parse_unexpected : jerr));
        return NULL;
    }
    for (size_t i = used; i < len; i++) {
        if (!isspace((unsigned char)buf[i])) {
            json_object_put(obj);
            w_err(err, "unexpected data after the JSON value at offset %zu", i);
            return NULL;
        }
    }
    return obj;
}

struct json_object *jsonh_get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;

    if (obj == NULL || !json_object_is_type(obj, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

const char *jsonh_get_str(struct json_object *obj, const char *key, const char *dflt)
{
    struct json_object *v = jsonh_get(obj, key);

    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : dflt;
}

long long jsonh_get_int(struct json_object *obj, const char *key, long long dflt)
{
    struct json_object *v = jsonh_get(obj, key);

    return json_object_is_type(v, json_type_int) ? (long long)json_object_get_int64(v) : dflt;
}

int jsonh_get_bool(struct json_object *obj, const char *key, int dflt)
{
    struct json_object *v = jsonh_get(obj, key);

    return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : dflt;
}

const char *jsonh_str(struct json_object *obj, size_t *len)
{
    return json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}
