/* Called from wardend's main only: at start once the socket listens, at a clean exit. */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* The pid in path, or 0 when there is none (absent, empty, not a number). */
static pid_t read_pid(const char *path)
{
    struct w_error err;
    size_t len;
    char *text = util_read_file(AT_FDCWD, path, 64, &len, &err), *end;
    long pid;

    if (text == NULL)
        return 0;
    pid = strtol(text, &end, 10);
    if (end == text || (*end != '\n' && *end != '\0') || pid <= 0)
        pid = 0;
    free(text);
    return (pid_t)pid;
}

/* Is pid a running wardend (not merely a process that reused the number)? */
static int is_wardend(pid_t pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    if (fgets(comm, sizeof(comm), f) == NULL)
        comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, "wardend") == 0;
}

int pidfile_create(const char *path, struct w_error *err)
{
    pid_t old = read_pid(path);
    char line[32];
    int n;

    if (old > 0 && old != getpid() && is_wardend(old))
        return w_err(err, "pidfile %s: wardend %d is running", path, (int)old);
    n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    if (util_write_file_atomic(AT_FDCWD, path, line, (size_t)n, err) < 0)
        return w_err_prefix(err, "pidfile %s", path);
    return 0;
}

void pidfile_unlink(const char *path)
{
    if (read_pid(path) == getpid())
        unlink(path);
}
