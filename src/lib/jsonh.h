/* json-c helpers: parse with a precise error, typed field lookup, reply lines. */
#ifndef W_JSONH_H
#define W_JSONH_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

/* Parse exactly one JSON value from buf[0..len); trailing whitespace is allowed.
 * Returns a new reference, or NULL with err set to the parser's message. */
struct json_object *jsonh_parse(const char *buf, size_t len, struct w_error *err);
/* Borrowed member of obj, or NULL when obj is not an object or lacks key. */
struct json_object *jsonh_get(struct json_object *obj, const char *key);
/* Borrowed string member; dflt when absent or not a string. */
const char *jsonh_get_str(struct json_object *obj, const char *key, const char *dflt);
/* Integer member; dflt when absent or not an integer. */
long long jsonh_get_int(struct json_object *obj, const char *key, long long dflt);
int jsonh_get_bool(struct json_object *obj, const char *key, int dflt);
/* Plain compact serialisation with slashes unescaped; borrowed from obj. */
const char *jsonh_str(struct json_object *obj, size_t *len);

#endif
