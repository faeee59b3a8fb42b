#include "netspec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonh.h"

#define SPEC_MAX 64 /* longest SPEC worth parsing: "255.255.255.255/32:65535-65535" is 30 */

/* A decimal number of 1..5 digits, nothing else; -1 otherwise. */
static long decimal(const char *s, size_t len)
{
    long v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int netspec_port(struct json_object *v)
{
    long p = -1;

    if (json_object_is_type(v, json_type_int)) {
        int64_t x = json_object_get_int64(v);
        p = x >= 1 && x <= 65535 ? (long)x : -1;
    } else if (json_object_is_type(v, json_type_string)) {
        p = decimal(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    }
    return p >= 1 && p <= 65535 ? (int)p : -1;
}

static int parse_ports(const char *s, struct netspec *out, struct w_error *err)
{
    const char *dash = strchr(s, '-');
    long lo, hi;

    lo = decimal(s, dash ? (size_t)(dash - s) : strlen(s));
    hi = dash ? decimal(dash + 1, strlen(dash + 1)) : lo;
    if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535 || lo > hi)
        return w_err(err, "invalid port range %s", s);
    out->port_lo = (int)lo;
    out->port_hi = (int)hi;
    return 0;
}

static int parse_opts(struct json_object *opts, struct netspec *out, struct w_error *err)
{
    static const char *const protocols[] = {"tcp", "udp", "icmp", "all"};

    if (opts == NULL)
        return 0;
    if (!json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    json_object_object_foreach(opts, k, v)
    {
        if (strcmp(k, "log") == 0) {
            if (!json_object_is_type(v, json_type_boolean))
                return w_err(err, "Expected `log` to hold a boolean.");
            out->log = json_object_get_boolean(v);
        } else if (strcmp(k, "protocol") == 0) {
            size_t i;
            const char *p = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                     : jsonh_str(v, NULL);
            for (i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
                if (json_object_is_type(v, json_type_string) && strcmp(p, protocols[i]) == 0)
                    break;
            if (i == sizeof(protocols) / sizeof(protocols[0]))
                return w_err(err, "invalid protocol \"%.32s\" (tcp, udp, icmp or all)", p);
            strcpy(out->protocol, protocols[i]);
        } else {
            return w_err(err, "Unknown net out option `%.64s`.", k);
        }
    }
    return 0;
}

int netspec_parse_out(const char *spec, struct json_object *opts, struct netspec *out,
                      struct w_error *err)
{
    char buf[SPEC_MAX + 1], *colon, *slash;
    struct in_addr a;
    long mask = 32;

    memset(out, 0, sizeof(*out));
    if (strlen(spec) > SPEC_MAX)
        return w_err(err, "invalid address \"%.*s...\"", SPEC_MAX, spec);
    strcpy(buf, spec);
    colon = strchr(buf, ':');
    if (colon)
        *colon++ = '\0';
    slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1)
        return w_err(err, "invalid address \"%s\"", buf);
    if (slash && ((mask = decimal(slash, strlen(slash))) < 0 || mask > 32))
        return w_err(err, "invalid mask \"%s\"", slash);
    if (colon && parse_ports(colon, out, err) < 0)
        return -1;
    snprintf(out->network, sizeof(out->network), "%s/%ld", buf, mask);
    if (parse_opts(opts, out, err) < 0)
        return -1;
    if (out->protocol[0] == '\0')
        strcpy(out->protocol, out->port_lo ? "tcp" : "all");
    else if (out->port_lo && strcmp(out->protocol, "tcp") != 0 && strcmp(out->protocol, "udp") != 0)
        return w_err(err, "a port range needs protocol tcp or udp, not %s", out->protocol);
    return 0;
}
