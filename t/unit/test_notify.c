/* Unit tests for src/lib/notify.c (the sd_notify datagram, sent to a socket this test
 * binds, by path and in the abstract namespace) and for the <N> priority prefixes of
 * src/lib/log.c under JOURNAL_STREAM (each case in a child, as the check is made once
 * per process). Files go to a mkdtemp directory that is removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"
#include "tap.h"

static char tmpdir[] = "/tmp/warden-test-notify-XXXXXX";

/* A datagram socket bound at name ("@x": abstract), non-blocking. */
static int bind_dgram(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        TAP_BAIL("socket: %s", strerror(errno));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] != '@'))) < 0)
        TAP_BAIL("bind %s: %s", name, strerror(errno));
    return fd;
}

static void expect_datagram(int fd, const char *want, const char *name)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    if (!TAP_IS_MEM(n < 0 ? "" : buf, n < 0 ? 0 : (size_t)n, want, strlen(want), name))
        tap_diag("recv: %zd (%s)", n, n < 0 ? strerror(errno) : "ok");
}

static void test_notify(void)
{
    char path[256], abstract[64];
    struct w_error err;
    int fd;

    unsetenv("NOTIFY_SOCKET");
    TAP_IS_INT(notify_send("READY=1", &err), 0, "no NOTIFY_SOCKET: nothing sent, no error");
    setenv("NOTIFY_SOCKET", "", 1);
    TAP_IS_INT(notify_send("READY=1", &err), 0, "an empty NOTIFY_SOCKET: nothing sent");

    snprintf(path, sizeof(path), "%s/notify", tmpdir);
    fd = bind_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    TAP_IS_INT(notify_send("READY=1", &err), 1, "a path: sent");
    expect_datagram(fd, "READY=1", "a path: the datagram is exactly READY=1");
    TAP_IS_INT(notify_send("STOPPING=1", &err), 1, "STOPPING=1 sent");
    expect_datagram(fd, "STOPPING=1", "the second datagram is exactly STOPPING=1");
    close(fd);

    snprintf(abstract, sizeof(abstract), "@warden-test-notify-%d", (int)getpid());
    fd = bind_dgram(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    TAP_IS_INT(notify_send("READY=1", &err), 1, "an abstract name: sent");
    expect_datagram(fd, "READY=1", "an abstract name: the datagram arrives");
    close(fd);

    /* The path's socket is closed: nobody listens. */
    setenv("NOTIFY_SOCKET", path, 1);
    TAP_IS_INT(notify_send("READY=1", &err), -1, "a socket nobody listens on: an error");
    TAP_CONTAINS(err.msg, path, "... that names the socket");
    TAP_IS_INT(err.errnum, ECONNREFUSED, "... ECONNREFUSED");

    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    TAP_IS_INT(notify_send("READY=1", &err), -1, "an address we do not speak: an error");
    TAP_CONTAINS(err.msg, "vsock:2:1234", "... that names it");
    unsetenv("NOTIFY_SOCKET");
}

/* In a child: stderr to a new file, JOURNAL_STREAM set by how (0 unset, 1 the file's
 * dev:ino, 2 another inode, 3 garbage), one log line; returns the file's text. */
static char *log_line_under(int how, char *buf, size_t size)
{
    char path[256];
    struct stat st;
    pid_t pid;
    int fd, ws;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/stderr.%d", tmpdir, how);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) < 0)
        TAP_BAIL("open %s: %s", path, strerror(errno));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char js[64];
        dup2(fd, STDERR_FILENO);
        if (how == 1 || how == 2)
            snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino + (how == 2));
        else
            strcpy(js, "not-a-stream");
        if (how == 0)
            unsetenv("JOURNAL_STREAM");
        else
            setenv("JOURNAL_STREAM", js, 1);
        log_set_level(LOG_DEBUG);
        log_msg(LOG_WARNING, "hello %d", 42);
        log_msg(LOG_DEBUG, "debug line");
        _exit(0);
    }
    close(fd);
    if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws))
        TAP_BAIL("child for case %d failed", how);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, buf, size - 1);
    if (fd >= 0)
        close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void test_journal_prefixes(void)
{
    char buf[1024];

    TAP_IS_STR(log_line_under(1, buf, sizeof(buf)), "<4>hello 42\n<7>debug line\n",
               "JOURNAL_STREAM is our stderr: <N> prefixes, no timestamp");
    log_line_under(2, buf, sizeof(buf));
    TAP_OK(buf[0] != '<' && strstr(buf, "Z warn: hello 42\n") != NULL,
           "JOURNAL_STREAM names another stream: timestamps and level names");
    log_line_under(3, buf, sizeof(buf));
    TAP_OK(buf[0] != '<' && strstr(buf, "Z warn: hello 42\n") != NULL,
           "JOURNAL_STREAM is not DEV:INODE: timestamps");
    log_line_under(0, buf, sizeof(buf));
    TAP_OK(buf[0] != '<' && strstr(buf, "Z debug: debug line\n") != NULL,
           "no JOURNAL_STREAM: timestamps");
}

int main(void)
{
    char path[256];

    if (mkdtemp(tmpdir) == NULL)
        TAP_BAIL("mkdtemp: %s", strerror(errno));
    test_notify();
    test_journal_prefixes();
    snprintf(path, sizeof(path), "%s/notify", tmpdir);
    unlink(path);
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/stderr.%d", tmpdir, i);
        unlink(path);
    }
    rmdir(tmpdir);
    return tap_done();
}
