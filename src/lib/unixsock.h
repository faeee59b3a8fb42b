/* Unix-domain sockets, bound and connected in one place for every program (wardend's
 * listening socket, wshd's, the warden CLI's and wardend's connections). */
#ifndef W_UNIXSOCK_H
#define W_UNIXSOCK_H

#include <sys/types.h>

#include "error.h"

/* Connect a socket of type (SOCK_STREAM or SOCK_SEQPACKET, plus SOCK_NONBLOCK if
 * wanted; SOCK_CLOEXEC is always added) to path; the fd, or -1 with err
 * ("connect to PATH: ..."). */
int unixsock_connect(const char *path, int type, struct w_error *err);
/* Listen on path with the given mode: bind a temporary name beside it (born 0600),
 * chmod it, listen, then rename it over path, so no client ever sees the socket with
 * another mode and a stale socket is replaced. type as above. Each failure names its
 * call and object. */
int unixsock_listen(const char *path, int type, mode_t mode, int backlog, struct w_error *err);

#endif
