/* The warden CLI's job commands: spawn, run, link and stream. run and link exit with
 * the job's status; run and stream print the output as it arrives. Runs in warden, as any
 * user that can open the socket. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonh.h"

static void write_chunk(struct json_object *s, FILE *f)
{
    if (s != NULL && json_object_is_type(s, json_type_string)) {
        fwrite(json_object_get_string(s), 1, (size_t)json_object_get_string_len(s), f);
        fflush(f);
    }
}

/* [exit_status, stdout, stderr] -> output written, exit status (null -> 255). */
static int job_result(struct json_object *p, int print_output)
{
    struct json_object *st = json_object_array_get_idx(p, 0);

    if (cli_json)
        cli_print_payload(p);
    else if (print_output) {
        write_chunk(json_object_array_get_idx(p, 1), stdout);
        write_chunk(json_object_array_get_idx(p, 2), stderr);
    }
    if (st == NULL || !json_object_is_type(st, json_type_int))
        return 255;
    return json_object_get_int(st) & 0xff;
}

static int link_job(struct client *c, const char *h, const char *j, int print_output)
{
    struct json_object *req = cli_request("link"), *reply, *payload;
    int r;

    cli_add_str(req, h);
    json_object_array_add(req, cli_num_or_str(j));
    r = cli_call(c, req, &reply, &payload);
    if (r != 0)
        return r;
    if (!json_object_is_type(payload, json_type_array)) {
        warden_complain("malformed link reply: %s", jsonh_str(payload, NULL));
        r = EXIT_BUG;
    } else {
        r = job_result(payload, print_output);
    }
    json_object_put(reply);
    return r;
}

/* Print stream chunks as they arrive until the [] end line. */
static int stream_job(struct client *c, const char *h, const char *j)
{
    struct json_object *req = cli_request("stream"), *reply, *payload;
    struct w_error err;
    int r;

    cli_add_str(req, h);
    json_object_array_add(req, cli_num_or_str(j));
    r = cli_call(c, req, &reply, &payload);
    while (r == 0) {
        size_t n =
            json_object_is_type(payload, json_type_array) ? json_object_array_length(payload) : 0;
        if (n == 0) {
            if (cli_json)
                cli_print_payload(payload);
            json_object_put(reply);
            return 0;
        }
        if (cli_json) {
            cli_print_payload(payload);
        } else {
            const char *which = json_object_get_string(json_object_array_get_idx(payload, 0));
            write_chunk(json_object_array_get_idx(payload, 1),
                        which != NULL && strcmp(which, "stderr") == 0 ? stderr : stdout);
        }
        json_object_put(reply);
        if ((reply = client_recv(c, &err)) == NULL) {
            warden_complain("%s", err.msg);
            return client_exit_status(&err);
        }
        r = client_reply(reply, &payload, &err);
        if (r != 0) {
            warden_complain("%s", err.msg);
            json_object_put(reply);
            return r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
        }
    }
    return r;
}

/* Read the whole of stdin for SCRIPT "-". */
static char *read_stdin(void)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    char buf[8192];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        fwrite(buf, 1, n, f);
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Shared by spawn and run: builds ["spawn"|"run", H, SCRIPT, OPTS]. Sets *base64 when the
 * job's output comes base64-encoded. Returns NULL after printing a usage error. */
static struct json_object *job_request(const char *name, int argc, char **argv, int *status,
                                       int *base64)
{
    enum { ENV = CLI_O_FIRST, RLIMIT, DISCARD, OUTPUT, PRIV };
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"privileged", no_argument, NULL, PRIV},
                                       {"env", required_argument, NULL, ENV},
                                       {"rlimit", required_argument, NULL, RLIMIT},
                                       {"discard-output", no_argument, NULL, DISCARD},
                                       {"output", required_argument, NULL, OUTPUT},
                                       {0}};
    const struct cli_cmd *cmd = cli_find_cmd(name);
    struct json_object *opts = json_object_new_object(), *req;
    const char *bad = NULL;
    char *script;
    int ch;

    *base64 = 0;
    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        switch (ch) {
        case 'h':
            bad = "help";
            break;
        case PRIV:
            json_object_object_add(opts, "privileged", json_object_new_boolean(1));
            break;
        case DISCARD:
            json_object_object_add(opts, "discard_output", json_object_new_boolean(1));
            break;
        case OUTPUT:
            json_object_object_add(opts, "output", json_object_new_string(optarg));
            *base64 = strcmp(optarg, "base64") == 0;
            break;
        case ENV:
            if (cli_add_kv(cli_sub_object(opts, "env"), optarg, 0) < 0)
                bad = "--env wants KEY=VALUE";
            break;
        case RLIMIT:
            if (cli_add_kv(cli_sub_object(opts, "rlimits"), optarg, 1) < 0)
                bad = "--rlimit wants NAME=NUMBER";
            break;
        default:
            bad = "";
            break;
        }
        if (bad != NULL)
            break;
    }
    if (bad == NULL && argc - optind != 2)
        bad = "expected a handle and a script";
    if (bad != NULL) {
        json_object_put(opts);
        if (strcmp(bad, "help") == 0) {
            *status = cli_show_help(cmd);
        } else {
            *status = cli_usage_error(cmd, *bad ? bad : NULL);
        }
        return NULL;
    }
    req = cli_request(name);
    cli_add_str(req, argv[optind]);
    if (strcmp(argv[optind + 1], "-") == 0) {
        if ((script = read_stdin()) == NULL) {
            warden_complain("cannot read the script from stdin");
            json_object_put(opts);
            json_object_put(req);
            *status = EXIT_SYS;
            return NULL;
        }
        cli_add_str(req, script);
        free(script);
    } else {
        cli_add_str(req, argv[optind + 1]);
    }
    if (json_object_object_length(opts) > 0)
        json_object_array_add(req, opts);
    else
        json_object_put(opts);
    return req;
}

int cli_cmd_spawn(struct client *c, int argc, char **argv)
{
    int status, b64;
    struct json_object *req = job_request("spawn", argc, argv, &status, &b64);

    return req == NULL ? status : cli_simple(c, req);
}

/* run: spawn, stream the output live, then link for the exit status. With --json (or
 * base64 output, which is printed as received) one plain run request. */
int cli_cmd_run(struct client *c, int argc, char **argv)
{
    int status, b64, r;
    struct json_object *req = job_request("run", argc, argv, &status, &b64), *reply, *payload;
    char job[32];

    if (req == NULL)
        return status;
    if (cli_json || b64) {
        if ((r = cli_call(c, req, &reply, &payload)) != 0)
            return r;
        if (!json_object_is_type(payload, json_type_array)) {
            warden_complain("malformed run reply: %s", jsonh_str(payload, NULL));
            r = EXIT_BUG;
        } else {
            r = job_result(payload, 1);
        }
        json_object_put(reply);
        return r;
    }
    json_object_array_put_idx(req, 0, json_object_new_string("spawn"));
    const char *h = json_object_get_string(json_object_array_get_idx(req, 1));
    char handle[256];
    strlcpy(handle, h, sizeof(handle));
    if ((r = cli_call(c, req, &reply, &payload)) != 0)
        return r;
    snprintf(job, sizeof(job), "%s", jsonh_str(payload, NULL));
    json_object_put(reply);
    if ((r = stream_job(c, handle, job)) != 0)
        return r;
    return link_job(c, handle, job, 0);
}

int cli_cmd_link_or_stream(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;

    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind != 2)
        return cli_usage_error(cmd, "expected a handle and a job id");
    if (strcmp(argv[0], "link") == 0)
        return link_job(c, argv[optind], argv[optind + 1], 1);
    return stream_job(c, argv[optind], argv[optind + 1]);
}
