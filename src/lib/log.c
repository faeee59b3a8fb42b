#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int log_level = LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",  [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "error",
    [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    if (strcasecmp(name, "warning") == 0)
        return LOG_WARNING;
    return -1;
}

void log_set_level(int level)
{
    log_level = level;
}

int log_set_file(const char *path)
{
    int fd;

    if (path == NULL || *path == '\0')
        return 0;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    return 0;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it gave us as stderr; trust it
 * only while stderr is still that stream (not when a child inherited the variable and
 * was given another stderr). Decided once per process. */
static int journal_stderr(void)
{
    static int cached = -1;

    if (cached < 0) {
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char end;

        cached = js != NULL && sscanf(js, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
                 fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                 (unsigned long long)st.st_ino == ino;
    }
    return cached;
}

void log_msg(int level, const char *fmt, ...)
{
    char line[2048];
    int n = 0;
    va_list ap;
    int saved = errno;

    if (level > log_level)
        return;
    if (log_fd == STDERR_FILENO && journal_stderr()) {
        n = snprintf(line, sizeof(line), "<%d>", level & 7);
    } else {
        n = (int)util_time_iso(line, NULL, 3);
        n += snprintf(line + n, sizeof(line) - (size_t)n, " %s: ", level_names[level & 7]);
    }
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(log_fd, line, (size_t)n);
    errno = saved;
}
