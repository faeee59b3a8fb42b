#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Called by wardend's main loop only: once when the socket listens and restore is done,
 * once when it begins to stop. Never blocks: a manager whose queue is full gets an
 * error logged instead of a stalled server. */
int notify_send(const char *msg, struct w_error *err)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len, mlen = strlen(msg);
    socklen_t salen;
    ssize_t n;
    int fd, e;

    if (path == NULL || *path == '\0')
        return 0;
    len = strlen(path);
    if (path[0] != '/' && path[0] != '@')
        return w_err(err, "NOTIFY_SOCKET=%s: want a path or @abstract name", path);
    if (len >= sizeof(sa.sun_path))
        return w_err(err, "NOTIFY_SOCKET=%s: too long", path);
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL counts in the length */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return w_errno(err, errno, "socket for NOTIFY_SOCKET");
    do
        n = sendto(fd, msg, mlen, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
    while (n < 0 && errno == EINTR);
    e = errno;
    close(fd);
    if (n < 0)
        return w_errno(err, e, "send %s to NOTIFY_SOCKET %s", msg, path);
    if ((size_t)n != mlen)
        return w_err(err, "send %s to NOTIFY_SOCKET %s: short datagram", msg, path);
    return 1;
}
