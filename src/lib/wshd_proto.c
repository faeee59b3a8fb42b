#include "wshd_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "jsonh.h"
#include "unixsock.h"

int wshd_connect(const char *path, int nonblock, struct w_error *err)
{
    return unixsock_connect(path, SOCK_SEQPACKET | (nonblock ? SOCK_NONBLOCK : 0), err);
}

int wshd_send(int sock, struct json_object *msg, const int *fds, int nfds, struct w_error *err)
{
    size_t len;
    const char *s = jsonh_str(msg, &len);

    if (len > WSHD_MSG_MAX)
        return w_err(err, "wshd message too large (%zu bytes)", len);
    if (len > 100000) {
        /* The kernel bounds one datagram by the sender's buffer: grow it (root may force). */
        int sz = (int)(len + 65536);
        if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
            (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    return fdpass_send(sock, s, len, fds, nfds, err);
}

struct json_object *wshd_recv(int sock, int *fds, int *nfds, struct w_error *err)
{
    char *buf = malloc(WSHD_MSG_MAX);
    struct json_object *obj = NULL;
    ssize_t n;

    if (buf == NULL) {
        w_errno(err, ENOMEM, "wshd message buffer");
        return NULL;
    }
    n = fdpass_recv(sock, buf, WSHD_MSG_MAX, fds, nfds, err);
    if (n == 0) {
        w_err(err, "connection closed");
        err->errnum = EPIPE;
    } else if (n > 0) {
        obj = jsonh_parse(buf, (size_t)n, err);
        if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
            json_object_put(obj);
            obj = NULL;
            w_err(err, "wshd message is not a JSON object");
        }
        if (obj == NULL && nfds != NULL) {
            for (int i = 0; i < *nfds; i++)
                close(fds[i]);
            *nfds = 0;
        }
    }
    free(buf);
    return obj;
}
