/* Checks run in PROTOCOL.md's order: argument count, handle lookup, then each
 * handler checks its argument types and values, then the container's state. */
#include "commands.h"

#include <string.h>

#include "container.h"
#include "job.h"
#include "proto.h"
#include "server.h"

static void cmd_ping(struct req *r, struct container *ct)
{
    (void)ct;
    req_reply(r, json_object_new_string("pong"));
}

static void cmd_echo(struct req *r, struct container *ct)
{
    (void)ct;
    req_reply(r, json_object_get(req_arg(r, 1)));
}

static void create_entry(struct req *r, struct container *ct)
{
    (void)ct;
    cmd_create(r);
}

static void list_entry(struct req *r, struct container *ct)
{
    (void)ct;
    cmd_list(r);
}

/* Commands of later issues: their argument and handle errors are already right. */
static void not_yet(struct req *r, struct container *ct)
{
    (void)ct;
    req_error(r, "command \"%s\" is not supported by this server yet",
              json_object_get_string(req_arg(r, 0)));
}

#define ACTIVE CT_MASK(CT_ACTIVE)
#define LIVE (CT_MASK(CT_ACTIVE) | CT_MASK(CT_STOPPED))

/* The lifecycle as data: for each command, its argument counts and the container
 * states it may run in (checked by the handler after its argument checks). */
static const struct command {
    const char *name;
    int min, max; /* arguments after the name */
    int handle;   /* argument 1 is a handle */
    int states;   /* allowed container states (CT_MASK bits); 0: no container */
    void (*run)(struct req *r, struct container *ct);
} commands[] = {
    {"ping", 0, 0, 0, 0, cmd_ping},
    {"echo", 1, 1, 0, 0, cmd_echo},
    {"create", 0, 1, 0, 0, create_entry},
    {"stop", 1, 2, 1, LIVE, cmd_stop},
    {"destroy", 1, 1, 1, CT_ANY, cmd_destroy},
    {"spawn", 2, 3, 1, ACTIVE, cmd_spawn},
    {"link", 2, 2, 1, CT_ANY, cmd_link},
    {"run", 2, 3, 1, ACTIVE, cmd_run},
    {"stream", 2, 2, 1, CT_ANY, cmd_stream},
    {"limit", 2, 4, 1, LIVE, not_yet},
    {"net", 2, 5, 1, ACTIVE, not_yet},
    {"copy", 4, 5, 1, ACTIVE, not_yet},
    {"info", 1, 1, 1, CT_ANY, cmd_info},
    {"list", 0, 1, 0, 0, list_entry},
};

int commands_states(struct req *r)
{
    const char *name = json_object_get_string(req_arg(r, 0));

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].states;
    return 0;
}

void commands_dispatch(struct req *r)
{
    struct json_object *name = req_arg(r, 0);
    const struct command *cmd = NULL;
    struct container *ct = NULL;
    int nargs = (int)req_nargs(r) - 1;

    if (json_object_is_type(name, json_type_string))
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(commands[i].name, json_object_get_string(name)) == 0)
                cmd = &commands[i];
    if (cmd == NULL) {
        char msg[512];
        proto_unknown_command(name, msg, sizeof(msg));
        req_error(r, "%s", msg);
        return;
    }
    if (nargs < cmd->min || nargs > cmd->max) {
        req_error(r, "invalid number of arguments");
        return;
    }
    if (cmd->handle) {
        struct json_object *h = req_arg(r, 1);
        if (json_object_is_type(h, json_type_string))
            ct = ct_lookup(json_object_get_string(h));
        if (ct == NULL) {
            req_error(r, "unknown handle");
            return;
        }
        ct_ref(ct, r);
    }
    cmd->run(r, ct);
}
