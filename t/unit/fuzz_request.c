/* Fuzz target for the request path (src/wardend/proto.c + src/lib/jsonh.c): the input is
 * split into lines as wardend's server does, each line is parsed, and whatever reply the
 * server would send for it is built and checked to be one line of valid UTF-8 JSON of the
 * right shape. Any crash, sanitizer report or abort() is a finding.
 *
 * libFuzzer (clang), from the top of the source tree, with BUILD a configured build dir:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -include $BUILD/config.h \
 *     -Isrc/lib $(pkg-config --cflags json-c libbsd-overlay) t/unit/fuzz_request.c \
 *     src/wardend/proto.c src/lib/jsonh.c src/lib/util.c src/lib/error.c \
 *     $(pkg-config --libs json-c libbsd-overlay) -o /tmp/fuzz_request
 *   /tmp/fuzz_request -max_len=4096 -max_total_time=60 CORPUS_DIR
 * Plain gcc: add -DFUZZ_STANDALONE (and drop -fsanitize=fuzzer) for a binary that runs
 * the target once on each file named on its command line (replaying a corpus or crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/wardend/proto.h"
#include "jsonh.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_request: check failed at line %d: %s\n", __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A reply line must be valid UTF-8, end in its only '\n', and parse back to
 * {"type":type,"payload":...}. */
static void check_reply(char *line, size_t len, const char *type)
{
    struct w_error err;
    struct json_object *o;

    CHECK(line != NULL);
    CHECK(len > 0 && line[len - 1] == '\n' && line[len] == '\0');
    CHECK(proto_find_line(line, len) == (long)len - 1);
    CHECK(util_utf8_valid_len(line, len) == len);
    o = jsonh_parse(line, len - 1, &err);
    CHECK(o != NULL);
    CHECK(strcmp(jsonh_get_str(o, "type", ""), type) == 0);
    CHECK(json_object_object_length(o) == 2);
    json_object_put(o);
    free(line);
}

static void one_line(const char *line, size_t len)
{
    struct json_object *req;
    struct w_error err = {0};
    size_t rlen;
    char msg[256], *reply;

    switch (proto_parse_line(line, len, &req, &err)) {
    case PROTO_REQUEST:
        CHECK(json_object_is_type(req, json_type_array) && json_object_array_length(req) > 0);
        proto_unknown_command(json_object_array_get_idx(req, 0), msg, sizeof(msg));
        CHECK(strncmp(msg, "unknown command ", 16) == 0);
        for (size_t i = 0; i < json_object_array_length(req); i++) {
            long long id = proto_job_id(json_object_array_get_idx(req, i));
            CHECK(id == -1 || id > 0);
        }
        reply = proto_reply_object(req, &rlen); /* as `echo` would */
        check_reply(reply, rlen, "object");
        json_object_put(req);
        break;
    case PROTO_EMPTY:
        CHECK(req == NULL);
        break;
    case PROTO_INVALID:
    case PROTO_BAD_JSON:
        CHECK(req == NULL && err.msg[0] != '\0');
        reply = proto_reply_error(err.msg, &rlen);
        check_reply(reply, rlen, "error");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;

    while (size > 0) {
        long nl = proto_find_line(buf, size);
        size_t len = nl < 0 ? size : (size_t)nl;

        CHECK(nl < 0 || buf[nl] == '\n');
        one_line(buf, len);
        if (nl < 0)
            break;
        buf += nl + 1;
        size -= (size_t)nl + 1;
    }
    return 0;
}

#ifdef FUZZ_STANDALONE
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t len;
        struct w_error err;
        char *data = util_read_file(-100 /* AT_FDCWD */, argv[i], 1 << 24, &len, &err);

        if (data == NULL) {
            fprintf(stderr, "fuzz_request: %s\n", err.msg);
            return 111;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        free(data);
    }
    return 0;
}
#endif
