/* One log sink: stderr (or a file), with a level filter. Under systemd (JOURNAL_STREAM
 * names the stream that is our stderr) lines carry <N> priority prefixes (sd-daemon(3))
 * instead of a timestamp and level name: journald adds the time and keeps the priority. */
#ifndef W_LOG_H
#define W_LOG_H

#include <syslog.h>

/* Returns -1 on an unknown level name. */
int log_level_from_name(const char *name);
void log_set_level(int level);
/* Reopen the sink on PATH (append); NULL or "" keeps stderr. */
int log_set_file(const char *path);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
