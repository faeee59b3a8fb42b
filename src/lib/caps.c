#include "caps.h"

#include <string.h>
#include <strings.h>

/* Index = capability number, as <linux/capability.h>. */
static const char *const names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof(names) / sizeof(names[0])))

int caps_number(const char *name)
{
    if (strncasecmp(name, "CAP_", 4) == 0)
        name += 4;
    for (int i = 0; i < NCAPS; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *caps_name(int n)
{
    return n >= 0 && n < NCAPS ? names[n] : NULL;
}

int caps_parse_list(const char *list, uint64_t *mask, struct w_error *err)
{
    const char *sep = ", \t\n";

    *mask = 0;
    for (const char *p = list + strspn(list, sep); *p; p += strspn(p, sep)) {
        size_t len = strcspn(p, sep);
        char name[32];
        int n;

        if (len >= sizeof(name))
            return w_err(err, "unknown capability \"%.32s...\"", p);
        memcpy(name, p, len);
        name[len] = '\0';
        if ((n = caps_number(name)) < 0)
            return w_err(err, "unknown capability \"%s\"", name);
        *mask |= 1ULL << n;
        p += len;
    }
    return 0;
}
