/* warden events and warden bulk_info: the scheduler's view of many containers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "jsonh.h"
#include "util.h"

/* One event as a text line: `TIME EVENT [HANDLE] [job J status S|null] [count N]`. */
static void print_event(struct json_object *ev)
{
    double t = json_object_get_double(jsonh_get(ev, "time"));
    struct timespec ts = {.tv_sec = (time_t)t};
    struct json_object *v;
    char stamp[UTIL_TIME_ISO_MAX];

    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    util_time_iso(stamp, &ts, 3);
    printf("%s %s", stamp, jsonh_get_str(ev, "event", "?"));
    if ((v = jsonh_get(ev, "handle")) != NULL)
        printf(" %s", json_object_get_string(v));
    if ((v = jsonh_get(ev, "job_id")) != NULL)
        printf(" job %s status %s", json_object_get_string(v),
               jsonh_get(ev, "exit_status") ? json_object_get_string(jsonh_get(ev, "exit_status"))
                                            : "null");
    if ((v = jsonh_get(ev, "count")) != NULL)
        printf(" count %s", json_object_get_string(v));
    putchar('\n');
}

int cli_cmd_events(struct client *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"count", required_argument, NULL, 'n'}, {0}};
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    struct json_object *reply = NULL, *payload;
    long long count = -1;
    struct w_error err;
    char *end;
    int ch, r;

    CLI_FOR_OPTS(argc, argv, "+hn:", lo, ch)
    {
        if (ch == 'n' && (count = strtoll(optarg, &end, 10)) >= 0 && *optarg && *end == '\0')
            continue;
        if (ch == 'h')
            return cli_show_help(cmd);
        return cli_usage_error(cmd, ch == 'n' ? "--count wants a number >= 0" : NULL);
    }
    if (optind != argc)
        return cli_usage_error(cmd, "too many arguments");
    if ((r = cli_call(c, cli_request("events"), &reply, &payload)) != 0)
        return r;
    /* Every line is one event; the first one is "listening". */
    for (;;) {
        int listening = strcmp(jsonh_get_str(payload, "event", ""), "listening") == 0;
        if (cli_json)
            puts(jsonh_str(payload, NULL));
        else
            print_event(payload);
        fflush(stdout);
        json_object_put(reply);
        if (!listening && count > 0 && --count == 0)
            return 0;
        if (count == 0)
            return 0;
        if ((reply = client_recv(c, &err)) == NULL) {
            warden_complain("%s", err.msg);
            return EXIT_SYS;
        }
        if ((r = client_reply(reply, &payload, &err)) != 0) {
            warden_complain("%s", err.msg);
            json_object_put(reply);
            return r > 0 ? EXIT_ERRREPLY : EXIT_SYS;
        }
    }
}

int cli_cmd_bulk_info(struct client *c, int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    struct json_object *req;
    int ch;

    CLI_FOR_OPTS(argc, argv, "+h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cli_find_cmd(argv[0]))
                         : cli_usage_error(cli_find_cmd(argv[0]), NULL);
    }
    req = cli_request("bulk_info");
    for (int i = optind; i < argc; i++)
        cli_add_str(req, argv[i]);
    return cli_simple(c, req);
}
