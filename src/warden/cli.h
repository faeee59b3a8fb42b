/* Shared by the warden CLI's command files and by nothing else: warden.c (the command
 * table, usage and main), jobs.c (spawn, run, link, stream) and request.c (building
 * requests, sending them, printing replies). */
#ifndef W_CLI_H
#define W_CLI_H

#include <getopt.h>
#include <json-c/json.h>

#include "client.h"

/* --json: print raw payloads (warden.c). */
extern int cli_json;

/* warden.c: one entry of the command table. */
struct cli_cmd;
const struct cli_cmd *cli_find_cmd(const char *name);
/* The i-th entry of the table, NULL past the end (the prompt's completion). */
const struct cli_cmd *cli_cmd_at(size_t i);
const char *cli_cmd_name(const struct cli_cmd *cmd);
const char *cli_cmd_usage(const struct cli_cmd *cmd);
/* Print the command's usage and help to stdout; returns 0. */
int cli_show_help(const struct cli_cmd *cmd);
/* Print why (when not NULL) and the command's usage to stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *why);

/* getopt_long over argv of one command; REPL-safe (optind reset each time). */
#define CLI_FOR_OPTS(argc, argv, shortopts, longopts, ch)                                          \
    for (optind = 0, opterr = 1; ((ch) = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1;)

enum { CLI_O_HELP = 'h', CLI_O_FIRST = 256 };

/* request.c: building requests. */
/* A number when the whole word is an integer, else the string itself (the server then
 * names what is wrong with it). */
struct json_object *cli_num_or_str(const char *s);
/* "K=V" into obj[K] = V (string, or number when asnum); -1 when not K=V. */
int cli_add_kv(struct json_object *obj, const char *kv, int asnum);
/* obj[key], added as an empty object when missing (borrowed). */
struct json_object *cli_sub_object(struct json_object *obj, const char *key);
/* A new request array ["name"]. */
struct json_object *cli_request(const char *name);
void cli_add_str(struct json_object *req, const char *s);

/* request.c: sending requests, printing replies. */
/* A payload readably (objects as `key: value` lines), or raw with --json. */
void cli_print_payload(struct json_object *p);
/* Send req (consumed) and read one reply. Returns 0 with *reply set (caller puts it),
 * or an exit status with the message printed. */
int cli_call(struct client *c, struct json_object *req, struct json_object **reply,
             struct json_object **payload);
/* Most commands: one request (consumed), print the payload; returns an exit status. */
int cli_simple(struct client *c, struct json_object *req);

/* jobs.c: the job commands. */
int cli_cmd_spawn(struct client *c, int argc, char **argv);
int cli_cmd_run(struct client *c, int argc, char **argv);
int cli_cmd_link_or_stream(struct client *c, int argc, char **argv);
int cli_cmd_signal(struct client *c, int argc, char **argv);
int cli_cmd_stdin(struct client *c, int argc, char **argv);
int cli_cmd_resize(struct client *c, int argc, char **argv);
/* events.c: events and bulk_info. */
int cli_cmd_events(struct client *c, int argc, char **argv);
int cli_cmd_bulk_info(struct client *c, int argc, char **argv);
/* oci_exec.c: `warden oci ARGS` runs warden-oci ARGS (returns only on failure). */
int cli_exec_oci(int argc, char **argv);

/* contain.c: warden contain; seed_name: invoked as `contain` (messages say so). */
int cli_contain(struct client *c, int argc, char **argv, int seed_name);
int cli_cmd_contain(struct client *c, int argc, char **argv);

#endif
