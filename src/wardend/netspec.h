/* The arguments of `net`: a net out SPEC (ADDRESS[/MASK][:PORT[-PORT]]) with its
 * options, and net in ports. Pure functions, no I/O, so t/unit/test_netspec drives them. */
#ifndef W_NETSPEC_H
#define W_NETSPEC_H

#include <json-c/json.h>

#include "error.h"

struct netspec {
    char network[80];     /* "A.B.C.D/M" */
    int port_lo, port_hi; /* 0, 0: no port */
    char protocol[8];     /* tcp, udp, icmp or all */
    int log;
};

/* SPEC and OPTS (NULL: none) of `net H out`; err names the malformed part:
 * invalid address "x", invalid mask "x", invalid port range X, invalid protocol "x". */
int netspec_parse_out(const char *spec, struct json_object *opts, struct netspec *out,
                      struct w_error *err);
/* A port argument: an integer or a string of digits, 1..65535; else -1. */
int netspec_port(struct json_object *v);

#endif
