/* Runs in whichever program calls it; wardend and wshd call unixsock_listen once, before
 * they serve, so the umask change around bind races with nothing. */
#include "unixsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int set_path(struct sockaddr_un *sa, const char *path, struct w_error *err)
{
    if (strlcpy(sa->sun_path, path, sizeof(sa->sun_path)) >= sizeof(sa->sun_path))
        return w_err(err, "socket path too long: %s", path);
    return 0;
}

int unixsock_connect(const char *path, int type, struct w_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (set_path(&sa, path, err) < 0)
        return -1;
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return w_errno(err, errno, "socket for %s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return w_errno(err, e, "connect to %s", path);
    }
    return fd;
}

int unixsock_listen(const char *path, int type, mode_t mode, int backlog, struct w_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char tmp[sizeof(sa.sun_path)];
    mode_t old;
    int fd, e;

    if (snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return w_err(err, "socket path too long: %s", path);
    if (set_path(&sa, tmp, err) < 0)
        return -1;
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return w_errno(err, errno, "socket for %s", path);
    if (unlink(tmp) < 0 && errno != ENOENT) {
        e = errno;
        close(fd);
        return w_errno(err, e, "unlink %s", tmp);
    }
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        umask(old);
        close(fd);
        return w_errno(err, e, "bind %s", tmp);
    }
    umask(old);
    if (chmod(tmp, mode) < 0)
        w_errno(err, errno, "chmod %04o %s", (unsigned)mode, tmp);
    else if (listen(fd, backlog) < 0)
        w_errno(err, errno, "listen on %s", tmp);
    else if (rename(tmp, path) < 0)
        w_errno(err, errno, "rename %s to %s", tmp, path);
    else
        return fd;
    unlink(tmp);
    close(fd);
    return -1;
}
