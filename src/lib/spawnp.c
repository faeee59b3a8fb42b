#include "spawnp.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>

pid_t spawnp_start(const struct spawnp *s, struct w_error *err)
{
    static const int flags[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t all, none;
    short sflags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 3; i++) {
        if (s->fd[i] == SPAWNP_NULL)
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", flags[i], 0);
        else if (s->fd[i] != SPAWNP_INHERIT)
            posix_spawn_file_actions_adddup2(&fa, s->fd[i], i);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    sigfillset(&all);
    posix_spawnattr_setsigdefault(&attr, &all);
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    if (s->pgroup) {
        posix_spawnattr_setpgroup(&attr, 0);
        sflags |= POSIX_SPAWN_SETPGROUP;
    }
    posix_spawnattr_setflags(&attr, sflags);
    rc = posix_spawn(&pid, s->path, &fa, &attr, s->argv, s->envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return w_errno(err, rc, "posix_spawn %s", s->path);
    return pid;
}

void spawnp_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
