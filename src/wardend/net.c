/* Runs in wardend's loop. The dispatcher has run net_check (arguments) and the state
 * check; `net in` then takes its host port at once (so two requests never get the
 * same one), and each queues an op on the container, so net.sh never runs beside the
 * container's create, stop or destroy. A port stays on the container's list
 * (ct->ports) from the moment it is taken: whatever happens to the op,
 * ct_release_pools gives it back. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hook.h"
#include "jsonh.h"
#include "lifecycle.h"
#include "log.h"
#include "netspec.h"
#include "pool.h"
#include "registry.h"
#include "req.h"
#include "snapshot.h"
#include "util.h"
#include "wardend.h"

struct net_op {
    struct ct_op op; /* first: op_done frees the whole net_op */
    char args[5][96];
    const char *argv[6];
    int host_port, container_port; /* net in; 0 for net out */
};

/* Does a socket on the host hold port already (a listener, or a bound socket)? */
static int host_port_busy(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, busy;

    if (fd < 0)
        return 0; /* cannot tell: the DNAT still works */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    busy = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
    close(fd);
    return busy;
}

/* Held by a container, or by a teardown (its DNAT goes with destroy.sh). */
static int port_held(int port)
{
    struct container *lists[] = {ct_first(), ct_teardown_first()};

    for (int l = 0; l < 2; l++)
        for (struct container *ct = lists[l]; ct; ct = ct->next)
            for (int i = 0; i < ct->nports; i++)
                if (ct->ports[i][0] == port)
                    return 1;
    return 0;
}

static int hold(struct container *ct, int host_port, int container_port)
{
    if (ct->nports == ct->ports_cap) {
        int cap = ct->ports_cap ? ct->ports_cap * 2 : 4;
        int(*p)[2] = realloc(ct->ports, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -1;
        ct->ports = p;
        ct->ports_cap = cap;
    }
    ct->ports[ct->nports][0] = host_port;
    ct->ports[ct->nports][1] = container_port;
    ct->nports++;
    return 0;
}

/* Undo a hold whose rule was never made: straight back to the pool, no delay. */
static void unhold(struct container *ct, int host_port)
{
    for (int i = 0; i < ct->nports; i++)
        if (ct->ports[i][0] == host_port) {
            ct->ports[i][0] = ct->ports[ct->nports - 1][0];
            ct->ports[i][1] = ct->ports[ct->nports - 1][1];
            ct->nports--;
            pool_put_back(&port_pool, ct_port_index(host_port));
            return;
        }
}

/* ---- create's network_address ---- */

static int host_has_address(struct in_addr a)
{
    struct ifaddrs *ifs, *i;
    int found = 0;

    if (getifaddrs(&ifs) < 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next)
        found = i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
                ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == a.s_addr;
    freeifaddrs(ifs);
    return found;
}

int net_set_address(struct container *ct, struct json_object *v, struct w_error *err)
{
    static const char want[] =
        "Expected `network_address` to hold ADDRESS/PREFIX (e.g. 192.168.2.17/24).";
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
    char buf[24], *slash, *end;
    struct in_addr a;
    uint32_t ip, start = g_cfg->network.pool_start_address, host;
    long len;

    if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf) || (slash = strchr(buf, '/')) == NULL)
        return w_err(err, "%s", want);
    *slash++ = '\0';
    len = strtol(slash, &end, 10);
    if (inet_pton(AF_INET, buf, &a) != 1 || *slash < '0' || *slash > '9' || *end || len < 1 ||
        len > 32)
        return w_err(err, "%s", want);
    ip = ntohl(a.s_addr);
    host = len == 32 ? 0 : ip & ((1u << (32 - len)) - 1);
    if (len <= 30 && (host == 0 || host == (1u << (32 - len)) - 1))
        return w_err(err, "network_address %s is the network or broadcast address of /%ld", buf,
                     len);
    if (ip >= start && (uint64_t)(ip - start) < 4ULL * (uint64_t)g_cfg->network.pool_size)
        return w_err(err, "network_address %s lies in the container pool (use `network`)", buf);
    /* A container's, or a failed teardown's (create waits for one still running). */
    for (int l = 0; l < 2; l++)
        for (struct container *o = l ? ct_teardown_first() : ct_first(); o; o = o->next) {
            const char *oa = o->network_address;
            size_t n = strlen(buf);
            if (o->destroying != 1 && strncmp(oa, buf, n) == 0 && oa[n] == '/')
                return w_err(err, "network_address %s is already in use by container %s", buf,
                             o->handle);
        }
    if (host_has_address(a))
        return w_err(err, "network_address %s is already in use by the host", buf);
    snprintf(ct->network_address, sizeof(ct->network_address), "%s/%ld", buf, len);
    return 0;
}

/* ---- the op ---- */

static void net_done(void *data, const char *error)
{
    struct container *ct = data;
    struct net_op *n = (struct net_op *)ct->ops;

    if (error) {
        if (n->host_port)
            unhold(ct, n->host_port);
        op_error(&n->op, error);
    } else if (n->host_port) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "host_port", json_object_new_int(n->host_port));
        json_object_object_add(o, "container_port", json_object_new_int(n->container_port));
        snapshot_save(ct);
        op_reply(&n->op, o);
    } else {
        /* Recorded so that a restart can put it back if the kernel lost it. */
        struct json_object *rule = json_object_new_array();
        for (int i = 1; i < 5; i++)
            json_object_array_add(rule, json_object_new_string(n->args[i]));
        if (ct->net_out == NULL)
            ct->net_out = json_object_new_array();
        json_object_array_add(ct->net_out, rule);
        snapshot_save(ct);
        op_reply(&n->op, json_object_new_string("ok"));
    }
    op_done(ct);
}

static void op_net(struct container *ct, struct ct_op *op)
{
    struct net_op *n = (struct net_op *)op;
    struct w_error err;

    if (ct->state != CT_ACTIVE) { /* stopped while the op waited */
        snprintf(err.msg, sizeof(err.msg),
                 "Container state must be one of 'active', current state is '%s'",
                 ct_state_name(ct->state));
        net_done(ct, err.msg);
        return;
    }
    if (hook_run("net.sh", n->argv, ct->env, ct->log_path, net_done, ct, &err) < 0)
        net_done(ct, err.msg);
}

static struct net_op *net_op_new(struct req *r, struct w_error *err, int nargs, ...)
{
    struct net_op *n = calloc(1, sizeof(*n));
    va_list ap;

    if (n == NULL) {
        w_err(err, "out of memory");
        return NULL;
    }
    n->op.run = op_net;
    n->op.req = r;
    va_start(ap, nargs);
    for (int i = 0; i < nargs; i++) {
        strlcpy(n->args[i], va_arg(ap, const char *), sizeof(n->args[i]));
        n->argv[i] = n->args[i];
    }
    va_end(ap);
    return n;
}

/* ---- net in ---- */

/* A free pool port that no host socket holds; -1 when there is none. */
static int acquire_port(long long now)
{
    int skipped[16], nskipped = 0, i, port = -1;

    while ((i = pool_acquire(&port_pool, now)) >= 0) {
        port = g_cfg->port.pool_start_port + i;
        if (!host_port_busy(port) && !port_held(port))
            break;
        port = -1;
        if (nskipped == (int)(sizeof(skipped) / sizeof(skipped[0]))) {
            pool_put_back(&port_pool, i);
            break;
        }
        skipped[nskipped++] = i;
    }
    while (nskipped > 0)
        pool_put_back(&port_pool, skipped[--nskipped]);
    return port;
}

/* HPORT given: free in the pool (when it is a pool port), on no container, on no host
 * socket. Replies and returns -1 otherwise. */
static int take_port(int port, long long now, struct w_error *err)
{
    int idx = ct_port_index(port);

    if (port_held(port) || (idx >= 0 && pool_take(&port_pool, idx, now) != idx)) {
        return w_err(err, "host port %d is already taken", port);
    }
    if (host_port_busy(port)) {
        pool_put_back(&port_pool, idx);
        return w_err(err, "host port %d is already in use on the host", port);
    }
    return 0;
}

/* Ports of `net H in [CPORT [HPORT]]` (0: not given); -1 with err naming the bad one. */
static int in_ports(struct req *r, int *cport, int *hport, struct w_error *err)
{
    size_t nargs = req_nargs(r);

    *cport = *hport = 0;
    if (nargs > 3 && (*cport = netspec_port(req_arg(r, 3))) < 0)
        return w_err(err, "invalid container port %s (1..65535)", jsonh_str(req_arg(r, 3), NULL));
    if (nargs > 4 && (*hport = netspec_port(req_arg(r, 4))) < 0)
        return w_err(err, "invalid host port %s (1..65535)", jsonh_str(req_arg(r, 4), NULL));
    return 0;
}

/* SPEC and OPTS of `net H out SPEC [OPTS]`. */
static int out_spec(struct req *r, struct netspec *s, struct w_error *err)
{
    size_t nargs = req_nargs(r);
    struct json_object *spec = req_arg(r, 3);

    if (nargs < 4)
        return w_err(err, "invalid number of arguments");
    if (!json_object_is_type(spec, json_type_string))
        return w_err(err, "invalid address %s", jsonh_str(spec, NULL));
    return netspec_parse_out(json_object_get_string(spec), nargs > 4 ? req_arg(r, 4) : NULL, s,
                             err);
}

static const char *direction(struct req *r)
{
    struct json_object *d = req_arg(r, 2);

    return json_object_is_type(d, json_type_string) ? json_object_get_string(d) : "";
}

int net_check(struct req *r, struct w_error *err)
{
    const char *d = direction(r);
    struct netspec s;
    int cport, hport;

    if (strcmp(d, "in") == 0)
        return in_ports(r, &cport, &hport, err);
    if (strcmp(d, "out") == 0)
        return out_spec(r, &s, err);
    return w_err(err, "invalid argument");
}

static int net_in(struct req *r, struct container *ct, struct w_error *err)
{
    int cport, hport;
    char h[16], c[16];
    struct net_op *n;

    if (in_ports(r, &cport, &hport, err) < 0) /* net_check passed: cannot happen */
        return -1;
    if (hport == 0 && (hport = acquire_port(loop_now_ms())) < 0)
        return w_err(err, "no port available");
    if (req_nargs(r) > 4 && take_port(hport, loop_now_ms(), err) < 0)
        return -1;
    if (cport == 0)
        cport = hport;
    if (hold(ct, hport, cport) < 0) {
        pool_put_back(&port_pool, ct_port_index(hport));
        return w_err(err, "out of memory");
    }
    snprintf(h, sizeof(h), "%d", hport);
    snprintf(c, sizeof(c), "%d", cport);
    if ((n = net_op_new(r, err, 3, "in", h, c)) == NULL) {
        unhold(ct, hport);
        return -1;
    }
    n->host_port = hport;
    n->container_port = cport;
    op_submit(ct, &n->op);
    return 0;
}

static int net_out(struct req *r, struct container *ct, struct w_error *err)
{
    struct netspec s;
    struct net_op *n;
    char ports[16] = "-";

    if (out_spec(r, &s, err) < 0) /* net_check passed: cannot happen */
        return -1;
    if (s.port_lo == s.port_hi && s.port_lo)
        snprintf(ports, sizeof(ports), "%d", s.port_lo);
    else if (s.port_lo)
        snprintf(ports, sizeof(ports), "%d:%d", s.port_lo, s.port_hi);
    n = net_op_new(r, err, 5, "out", s.network, ports, s.protocol, s.log ? "log" : "nolog");
    if (n == NULL)
        return -1;
    op_submit(ct, &n->op);
    return 0;
}

int cmd_net(struct req *r, struct container *ct, struct w_error *err)
{
    return strcmp(direction(r), "in") == 0 ? net_in(r, ct, err) : net_out(r, ct, err);
}
