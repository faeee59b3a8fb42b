/* server.pidfile: wardend's pid, for init scripts and monitors that want one. */
#ifndef W_PIDFILE_H
#define W_PIDFILE_H

#include "error.h"

/* Write our pid to path atomically. Fails when path names another live wardend (a
 * second daemon on the same pidfile would take over its socket and depot). */
int pidfile_create(const char *path, struct w_error *err);
/* Remove path if it still holds our pid (a later wardend may have taken it over). */
void pidfile_unlink(const char *path);

#endif
