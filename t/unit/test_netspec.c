/* Unit tests for the arguments of `net` (src/wardend/netspec.c): SPEC parsing with its
 * exact errors, the options of net out, and port arguments of net in. */
#include <string.h>

#include "../../src/wardend/netspec.h"
#include "tap.h"

/* Parse spec with opts (JSON text or NULL); returns the error message or "" and *out. */
static const char *parse(const char *spec, const char *opts, struct netspec *out)
{
    static struct w_error err;
    struct json_object *o = opts ? json_tokener_parse(opts) : NULL;
    int r = netspec_parse_out(spec, o, out, &err);

    json_object_put(o);
    return r == 0 ? "" : err.msg;
}

static void test_good(void)
{
    struct netspec s;

    TAP_IS_STR(parse("10.0.0.1", NULL, &s), "", "a bare address");
    TAP_IS_STR(s.network, "10.0.0.1/32", "... is a /32");
    TAP_IS_STR(s.protocol, "all", "... of every protocol");
    TAP_IS_INT(s.port_lo, 0, "... and no port");
    TAP_IS_STR(parse("10.0.0.0/8:80", NULL, &s), "", "network and port");
    TAP_IS_STR(s.network, "10.0.0.0/8", "... keeps the mask");
    TAP_IS_STR(s.protocol, "tcp", "a port implies tcp");
    TAP_OK(s.port_lo == 80 && s.port_hi == 80, "... one port");
    TAP_IS_STR(parse("1.2.3.4:1000-2000", "{\"protocol\":\"udp\",\"log\":true}", &s), "",
               "a range with protocol and log");
    TAP_OK(s.port_lo == 1000 && s.port_hi == 2000 && s.log && strcmp(s.protocol, "udp") == 0,
           "... all of it kept");
    TAP_IS_STR(parse("0.0.0.0/0", "{\"protocol\":\"icmp\"}", &s), "", "everything, icmp");
    TAP_IS_STR(parse("1.2.3.4:65535", "{}", &s), "", "the last port; empty options");
}

static void test_bad(void)
{
    struct netspec s;

    TAP_IS_STR(parse("x", NULL, &s), "invalid address \"x\"", "not an address");
    TAP_IS_STR(parse("", NULL, &s), "invalid address \"\"", "empty");
    TAP_IS_STR(parse("1.2.3", NULL, &s), "invalid address \"1.2.3\"", "three octets");
    TAP_IS_STR(parse("1.2.3.4/33", NULL, &s), "invalid mask \"33\"", "mask too large");
    TAP_IS_STR(parse("1.2.3.4/-1", NULL, &s), "invalid mask \"-1\"", "negative mask");
    TAP_IS_STR(parse("1.2.3.4/8:99999", NULL, &s), "invalid port range 99999", "port too large");
    TAP_IS_STR(parse("1.2.3.4:0", NULL, &s), "invalid port range 0", "port 0");
    TAP_IS_STR(parse("1.2.3.4:9-8", NULL, &s), "invalid port range 9-8", "reversed range");
    TAP_IS_STR(parse("1.2.3.4:1-", NULL, &s), "invalid port range 1-", "open range");
    TAP_IS_STR(parse("1.2.3.4:+80", NULL, &s), "invalid port range +80", "a sign");
    TAP_IS_STR(parse("1.2.3.4", "[]", &s), "Options must be a hash", "options not an object");
    TAP_IS_STR(parse("1.2.3.4", "{\"protocol\":\"gre\"}", &s),
               "invalid protocol \"gre\" (tcp, udp, icmp or all)", "unknown protocol");
    TAP_IS_STR(parse("1.2.3.4", "{\"protocol\":6}", &s),
               "invalid protocol \"6\" (tcp, udp, icmp or all)", "protocol not a string");
    TAP_IS_STR(parse("1.2.3.4", "{\"log\":\"yes\"}", &s), "Expected `log` to hold a boolean.",
               "log not a boolean");
    TAP_IS_STR(parse("1.2.3.4", "{\"ports\":1}", &s), "Unknown net out option `ports`.",
               "unknown option");
    TAP_IS_STR(parse("1.2.3.4:80", "{\"protocol\":\"all\"}", &s),
               "a port range needs protocol tcp or udp, not all", "ports with protocol all");
    TAP_CONTAINS(
        parse("1111111111111111111111111111111111111111111111111111111111111111111", NULL, &s),
        "invalid address", "an overlong SPEC");
}

static void test_ports(void)
{
    struct json_object *v;

    TAP_IS_INT(netspec_port(v = json_object_new_int(8080)), 8080, "an integer port");
    json_object_put(v);
    TAP_IS_INT(netspec_port(v = json_object_new_string("443")), 443, "a string of digits");
    json_object_put(v);
    TAP_IS_INT(netspec_port(v = json_object_new_int(0)), -1, "0 is no port");
    json_object_put(v);
    TAP_IS_INT(netspec_port(v = json_object_new_int(65536)), -1, "65536 is no port");
    json_object_put(v);
    TAP_IS_INT(netspec_port(v = json_object_new_string("80x")), -1, "80x is no port");
    json_object_put(v);
    TAP_IS_INT(netspec_port(v = json_object_new_double(80.5)), -1, "80.5 is no port");
    json_object_put(v);
    TAP_IS_INT(netspec_port(NULL), -1, "null is no port");
}

int main(void)
{
    test_good();
    test_bad();
    test_ports();
    return tap_done();
}
