/* Descriptor passing over Unix sockets, in one place. Received fds are O_CLOEXEC. */
#ifndef W_FDPASS_H
#define W_FDPASS_H

#include <sys/types.h>

#include "error.h"

#define FDPASS_MAX 4

/* Send len bytes of buf with nfds descriptors (0..FDPASS_MAX) in one message. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, int nfds,
                struct w_error *err);
/* Receive one message into buf (cap bytes) and up to *nfds descriptors; on return
 * *nfds holds how many arrived. Returns the byte count (0 on EOF) or -1.
 * Truncated data or control messages are errors, and any fds that did arrive are closed. */
ssize_t fdpass_recv(int sock, void *buf, size_t cap, int *fds, int *nfds, struct w_error *err);

#endif
