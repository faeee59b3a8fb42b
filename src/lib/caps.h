/* Capability names (without CAP_, as in capabilities(7)) for the container's bounding
 * set: wardend checks server.container_capabilities with them, wshd applies the list. */
#ifndef W_CAPS_H
#define W_CAPS_H

#include <stdint.h>

#include "error.h"

/* The default bounding set (crun's and Docker's), comma-separated. */
#define CAPS_DEFAULT                                                                               \
    "CHOWN,DAC_OVERRIDE,FSETID,FOWNER,MKNOD,NET_RAW,SETGID,SETUID,SETFCAP,SETPCAP,"                \
    "NET_BIND_SERVICE,SYS_CHROOT,KILL,AUDIT_WRITE"

/* Number of a capability named NAME or CAP_NAME (any case), or -1. */
int caps_number(const char *name);
/* Name of capability n (no CAP_), or NULL past the table. */
const char *caps_name(int n);
/* Parse a list of names separated by commas or blanks into a bit mask (bit n = cap n);
 * an empty list is the empty set. */
int caps_parse_list(const char *list, uint64_t *mask, struct w_error *err);

#endif
