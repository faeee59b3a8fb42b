/* Unit tests for the wire format (src/wardend/proto.c): request parsing, line framing,
 * reply lines byte for byte, unknown-command messages and job ids. */
#include <stdlib.h>
#include <string.h>

#include "../../src/wardend/proto.h"
#include "jsonh.h"
#include "tap.h"

/* Parse len bytes of s; returns the result and leaves the request (if any) in *req. */
static enum proto_parse parse(const char *s, size_t len, struct json_object **req,
                              struct w_error *err)
{
    memset(err, 0, sizeof(*err));
    return proto_parse_line(s, len, req, err);
}

static void test_parse_request(void)
{
    struct json_object *req;
    struct w_error err;
    const char *line = "[\"spawn\",\"0afe0000\",\"echo hi\",{\"privileged\":true}]";
    enum proto_parse r = parse(line, strlen(line), &req, &err);

    TAP_IS_INT(r, PROTO_REQUEST, "a normal request parses as PROTO_REQUEST");
    TAP_OK(req != NULL && json_object_is_type(req, json_type_array) &&
               json_object_array_length(req) == 4,
           "the request is the 4-element array");
    TAP_IS_STR(json_object_get_string(json_object_array_get_idx(req, 0)), "spawn",
               "element 0 is the command name");
    json_object_put(req);

    r = parse("[\"ping\"]\r", 9, &req, &err);
    TAP_IS_INT(r, PROTO_REQUEST, "a trailing \\r is tolerated");
    json_object_put(req);

    r = parse("  [\"ping\"]  ", 12, &req, &err);
    TAP_IS_INT(r, PROTO_REQUEST, "surrounding whitespace is tolerated");
    json_object_put(req);

    /* Only len bytes count: what follows in memory is not part of the line. */
    r = parse("[\"ping\"]garbage", 8, &req, &err);
    TAP_IS_INT(r, PROTO_REQUEST, "only the first len bytes are parsed");
    json_object_put(req);
}

static void test_parse_empty_and_invalid(void)
{
    static const char *const not_arrays[] = {"{\"a\":1}", "42", "\"ping\"", "null", "true"};
    struct json_object *req = (struct json_object *)1;
    struct w_error err;
    char name[128];

    TAP_IS_INT(parse("[]", 2, &req, &err), PROTO_EMPTY, "[] is PROTO_EMPTY");
    TAP_OK(req == NULL, "[] leaves *req NULL");
    TAP_IS_INT(parse("[ ]\r", 4, &req, &err), PROTO_EMPTY, "[ ] with \\r is PROTO_EMPTY");

    for (size_t i = 0; i < sizeof(not_arrays) / sizeof(not_arrays[0]); i++) {
        enum proto_parse r;
        req = (struct json_object *)1;
        r = parse(not_arrays[i], strlen(not_arrays[i]), &req, &err);
        snprintf(name, sizeof(name), "%s is PROTO_INVALID", not_arrays[i]);
        TAP_IS_INT(r, PROTO_INVALID, name);
        snprintf(name, sizeof(name), "%s gives \"invalid request\"", not_arrays[i]);
        TAP_IS_STR(err.msg, "invalid request", name);
        TAP_OK(req == NULL, "no request is handed out for a non-array");
    }
}

static void test_parse_bad_json(void)
{
    static const struct {
        const char *text;
        size_t len;
        const char *name;
    } bad[] = {
        {"[\"ping\"", 7, "truncated array"},
        {"[\"pi", 4, "truncated string"},
        {"[1,", 3, "truncated after a comma"},
        {"{", 1, "lone {"},
        {"", 0, "empty line"},
        {"   ", 3, "only whitespace"},
        {"[\"ping\"] x", 10, "trailing garbage"},
        {"[\"ping\"][]", 10, "two values on one line"},
        {"[ping]", 6, "bare word"},
        {"[1,]", 4, "trailing comma"},
        {"['ping']", 8, "single quotes"},
        {"[\"a\0b\"]", 7, "NUL byte inside a string"},
        {"[\"ping\"]\0", 9, "NUL byte after the value"},
        {"[\"\xff\"]", 5, "invalid UTF-8 (0xFF) inside a string"},
        {"[\"\xc0\x80\"]", 6, "overlong UTF-8 inside a string"},
        {"[\"\xe2\x82\"]", 6, "truncated UTF-8 sequence inside a string"},
        {"[\"\xed\xa0\x80\"]", 7, "UTF-16 surrogate encoded in UTF-8 inside a string"},
        {"[\"\xf4\x90\x80\x80\"]", 8, "code point above U+10FFFF inside a string"},
        {"[\"\x80\"]", 5, "lone continuation byte inside a string"},
    };
    struct json_object *req;
    struct w_error err;
    char name[160];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum proto_parse r = parse(bad[i].text, bad[i].len, &req, &err);
        snprintf(name, sizeof(name), "%s is PROTO_BAD_JSON", bad[i].name);
        if (!TAP_IS_INT(r, PROTO_BAD_JSON, name) && req)
            json_object_put(req);
        snprintf(name, sizeof(name), "%s has a message", bad[i].name);
        if (!TAP_OK(err.msg[0] != '\0', name) || r != PROTO_BAD_JSON)
            tap_diag("message: %s", err.msg);
    }
}

static void test_parse_deep_nesting(void)
{
    size_t n = 100000;
    char *s = malloc(2 * n);
    struct json_object *req;
    struct w_error err;
    enum proto_parse r;

    if (s == NULL)
        TAP_BAIL("out of memory");
    memset(s, '[', n);
    r = parse(s, n, &req, &err);
    TAP_IS_INT(r, PROTO_BAD_JSON, "100000 '[' are rejected as bad JSON");
    TAP_OK(err.msg[0] != '\0', "deep nesting has a message");
    memset(s + n, ']', n);
    r = parse(s, 2 * n, &req, &err);
    TAP_IS_INT(r, PROTO_BAD_JSON, "100000 nested arrays, closed, are rejected too");
    free(s);
}

static void test_find_line(void)
{
    TAP_IS_INT(proto_find_line("abc\ndef\n", 8), 3, "find_line: first newline");
    TAP_IS_INT(proto_find_line("\n", 1), 0, "find_line: newline at 0");
    TAP_IS_INT(proto_find_line("abc", 3), -1, "find_line: no newline yet");
    TAP_IS_INT(proto_find_line("abc\n", 3), -1, "find_line: looks only at len bytes");
    TAP_IS_INT(proto_find_line("", 0), -1, "find_line: empty buffer");
    TAP_IS_INT(proto_find_line("a\0b\nc", 5), 3, "find_line: a NUL does not end the search");
}

/* got is a reply line, len its length as returned by proto_reply_*; got is freed. */
static void check_reply(char *got, size_t len, const char *want, const char *name)
{
    char n2[160];

    TAP_IS_MEM(got, got ? len : 0, want, strlen(want), name);
    snprintf(n2, sizeof(n2), "%s: NUL-terminated", name);
    TAP_OK(got && got[len] == '\0', n2);
    free(got);
}

static void test_replies(void)
{
    struct w_error err;
    struct json_object *payload, *req;
    size_t len = 0;
    const char *text;
    char *r;

    payload = json_object_new_string("pong");
    r = proto_reply_object(payload, &len);
    check_reply(r, len, "{\"type\":\"object\",\"payload\":\"pong\"}\n",
                "reply_object with a string");
    TAP_IS_INT(json_object_put(payload), 1, "reply_object leaves the payload's reference alone");

    text = "[1,{\"a\":\"b/c\",\"n\":null},[true,false],\"\xc3\xa9\"]";
    TAP_IS_INT(parse(text, strlen(text), &req, &err), PROTO_REQUEST, "a nested payload parses");
    r = proto_reply_object(req, &len);
    check_reply(r, len,
                "{\"type\":\"object\",\"payload\":[1,{\"a\":\"b/c\",\"n\":null},[true,false],"
                "\"\xc3\xa9\"]}\n",
                "reply_object: nested payload, slash unescaped, UTF-8 kept");
    json_object_put(req);

    r = proto_reply_object(NULL, &len);
    check_reply(r, len, "{\"type\":\"object\",\"payload\":null}\n",
                "reply_object with a NULL payload sends null");

    r = proto_reply_error("unknown handle", &len);
    check_reply(r, len, "{\"type\":\"error\",\"payload\":\"unknown handle\"}\n", "reply_error");
    r = proto_reply_error("rootfs /a/b not found", &len);
    check_reply(r, len, "{\"type\":\"error\",\"payload\":\"rootfs /a/b not found\"}\n",
                "reply_error does not escape slashes");
    r = proto_reply_error("unknown command \"x\"", &len);
    check_reply(r, len, "{\"type\":\"error\",\"payload\":\"unknown command \\\"x\\\"\"}\n",
                "reply_error escapes quotes");
    r = proto_reply_error("a\\b\nc\t", &len);
    check_reply(r, len, "{\"type\":\"error\",\"payload\":\"a\\\\b\\nc\\t\"}\n",
                "reply_error escapes backslash, newline and tab");
}

static void unknown(const char *json, const char *want, const char *name)
{
    struct w_error err;
    struct json_object *v = NULL;
    char buf[256];

    if (json)
        v = jsonh_parse(json, strlen(json), &err);
    proto_unknown_command(v, buf, sizeof(buf));
    TAP_IS_STR(buf, want, name);
    json_object_put(v);
}

static void test_unknown_command(void)
{
    char small[12];
    struct json_object *v;

    unknown("\"x\"", "unknown command \"x\"", "unknown command \"x\"");
    unknown("1", "unknown command 1", "unknown command 1");
    unknown("null", "unknown command null", "a JSON null name");
    unknown(NULL, "unknown command null", "a missing name");
    unknown("{\"a\":\"b/c\"}", "unknown command {\"a\":\"b/c\"}", "an object name");
    unknown("[1,2]", "unknown command [1,2]", "an array name");
    unknown("true", "unknown command true", "a boolean name");

    v = json_object_new_string("averyveryverylongname");
    proto_unknown_command(v, small, sizeof(small));
    TAP_IS_STR(small, "unknown com", "a small buffer is truncated, not overrun");
    json_object_put(v);
}

static void job_id(const char *json, long long want, const char *name)
{
    struct w_error err;
    struct json_object *v = jsonh_parse(json, strlen(json), &err);

    TAP_IS_INT(proto_job_id(v), want, name);
    json_object_put(v);
}

static void test_job_id(void)
{
    job_id("5", 5, "job id 5");
    job_id("\"5\"", 5, "job id \"5\"");
    job_id("\"05\"", 5, "job id \"05\"");
    job_id("1234567", 1234567, "job id 1234567");
    job_id("\"abc\"", -1, "job id \"abc\" is refused");
    job_id("\"\"", -1, "job id \"\" is refused");
    job_id("\"5a\"", -1, "job id \"5a\" is refused");
    job_id("\" 5\"", -1, "job id \" 5\" is refused");
    job_id("\"-1\"", -1, "job id \"-1\" is refused");
    job_id("-1", -1, "job id -1 is refused");
    job_id("0", -1, "job id 0 is refused");
    job_id("\"0\"", -1, "job id \"0\" is refused");
    job_id("1.5", -1, "job id 1.5 is refused");
    job_id("\"123456789012345678901234567890\"", -1, "a 30-digit job id string is refused");
    job_id("null", -1, "job id null is refused");
    job_id("[5]", -1, "job id [5] is refused");
    TAP_IS_INT(proto_job_id(NULL), -1, "a missing job id is refused");
}

int main(void)
{
    test_parse_request();
    test_parse_empty_and_invalid();
    test_parse_bad_json();
    test_parse_deep_nesting();
    test_find_line();
    test_replies();
    test_unknown_command();
    test_job_id();
    return tap_done();
}
