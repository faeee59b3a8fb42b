/* The service manager's notification protocol (sd_notify(3)), written by hand so that
 * nothing links libsystemd: one datagram of "KEY=VALUE\n" lines to $NOTIFY_SOCKET. */
#ifndef W_NOTIFY_H
#define W_NOTIFY_H

#include "error.h"

/* Send msg (e.g. "READY=1") to $NOTIFY_SOCKET: a path, or "@name" for the abstract
 * namespace. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset or empty (not under a
 * service manager), -1 with err set on failure. */
int notify_send(const char *msg, struct w_error *err);

#endif
