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
 * `configure --enable-fuzzer` (CC=clang) builds that binary as t/unit/fuzz_request_libfuzzer
 * and `make fuzz` runs it on a copy of the corpus.
 *
 * Replay (`make check`, any compiler): built with -DFUZZ_STANDALONE as t/unit/fuzz_request,
 * it runs the target on each FILE, or each file in each DIR (t/unit/corpus/), named on its
 * command line, each in a child process, and prints TAP: `ok N - corpus/ping` or `not ok N -
 * corpus/x: killed by signal 6`, so one crashing input neither hides the others nor stops
 * the replay. Exit 1 if any input failed, 111 if an input could not be read. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append path, or the regular files of directory path in name order, to *files. */
static int add_inputs(const char *path, char ***files, size_t *n)
{
    struct stat st;
    struct dirent *de;
    DIR *d;
    size_t first = *n;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "fuzz_request: stat %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *files = realloc(*files, (*n + 1) * sizeof(**files));
        CHECK(*files != NULL && ((*files)[(*n)++] = strdup(path)) != NULL);
        return 0;
    }
    if ((d = opendir(path)) == NULL) {
        fprintf(stderr, "fuzz_request: opendir %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        char *f;

        if (de->d_name[0] == '.')
            continue;
        CHECK(asprintf(&f, "%s/%s", path, de->d_name) >= 0);
        if (stat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
            free(f);
            continue;
        }
        *files = realloc(*files, (*n + 1) * sizeof(**files));
        CHECK(*files != NULL);
        (*files)[(*n)++] = f;
    }
    closedir(d);
    qsort(*files + first, *n - first, sizeof(**files), cmp_str);
    return 0;
}

/* The input's name in TAP lines: its last two path components (corpus/ping). */
static const char *short_name(const char *path)
{
    const char *p = path + strlen(path);
    int slashes = 0;

    while (p > path && !(p[-1] == '/' && ++slashes == 2))
        p--;
    return p;
}

/* Run the target on one file in a child; 0 if it returned normally. */
static int replay(const char *path, char *why, size_t size)
{
    size_t len;
    struct w_error err;
    int st;
    char *data = util_read_file(AT_FDCWD, path, 1 << 24, &len, &err);
    pid_t pid;

    if (data == NULL) {
        snprintf(why, size, "%s", err.msg);
        return -1;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        snprintf(why, size, "fork: %s", strerror(errno));
        free(data);
        return -1;
    }
    if (pid == 0) {
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        free(data);
        exit(0);
    }
    free(data);
    if (waitpid(pid, &st, 0) < 0) {
        snprintf(why, size, "waitpid: %s", strerror(errno));
        return -1;
    }
    if (WIFSIGNALED(st))
        snprintf(why, size, "killed by signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0)
        snprintf(why, size, "exit status %d", WEXITSTATUS(st));
    else
        return 0;
    return 1;
}

int main(int argc, char **argv)
{
    char **files = NULL, why[sizeof(((struct w_error *)0)->msg) + 64];
    size_t n = 0;
    int failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_request FILE|DIR...\n");
        return 100;
    }
    for (int i = 1; i < argc; i++)
        if (add_inputs(argv[i], &files, &n) < 0)
            return 111;
    if (n == 0) {
        fprintf(stderr, "fuzz_request: no inputs in %s\n", argv[1]);
        return 111;
    }
    printf("1..%zu\n", n);
    for (size_t i = 0; i < n; i++) {
        int rc = replay(files[i], why, sizeof(why));

        if (rc == 0)
            printf("ok %zu - %s\n", i + 1, short_name(files[i]));
        else
            printf("not ok %zu - %s: %s\n", i + 1, short_name(files[i]), why);
        failed |= rc != 0;
        free(files[i]);
    }
    free(files);
    return failed ? 1 : 0;
}
#endif
