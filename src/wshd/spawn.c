/* Process setup between fork and exec. wshd (pid 1 of the container) validates a
 * request here, then forks; the child runs spawn_child() and either execs or exits
 * 127 with one line on its stderr, like a shell that cannot find a command. */
#include "config.h"

#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "jsonh.h"

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"as", RLIMIT_AS},         {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},     {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO}, {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

static int parse_rlimits(struct json_object *obj, struct spawn_opts *o, struct w_error *err)
{
    if (obj == NULL)
        return 0;
    if (!json_object_is_type(obj, json_type_object))
        return w_err(err, "rlimits: must be an object");
    json_object_object_foreach(obj, key, val)
    {
        size_t i, n = sizeof(rlimit_names) / sizeof(rlimit_names[0]);
        long long v;

        for (i = 0; i < n && strcmp(rlimit_names[i].name, key) != 0; i++)
            ;
        if (i == n)
            return w_err(err, "rlimits.%.64s: unknown limit", key);
        if (!json_object_is_type(val, json_type_int))
            return w_err(err, "rlimits.%s: must be an integer", key);
        v = json_object_get_int64(val);
        if (v < 0)
            return w_err(err, "rlimits.%s: must be >= 0", key);
        if (o->nrlimits == SPAWN_MAX_RLIMITS)
            return w_err(err, "rlimits: too many");
        o->rlimits[o->nrlimits].resource = rlimit_names[i].resource;
        o->rlimits[o->nrlimits].value = (rlim_t)v;
        o->nrlimits++;
    }
    return 0;
}

static int check_env(struct json_object *obj, struct w_error *err)
{
    if (obj == NULL)
        return 0;
    if (!json_object_is_type(obj, json_type_object))
        return w_err(err, "env: must be an object");
    json_object_object_foreach(obj, key, val)
    {
        if (*key == '\0' || strchr(key, '='))
            return w_err(err, "env: bad variable name \"%.64s\"", key);
        if (!json_object_is_type(val, json_type_string))
            return w_err(err, "env.%.64s: must be a string", key);
    }
    return 0;
}

int spawn_parse_common(struct json_object *req, struct spawn_opts *o, struct w_error *err)
{
    struct json_object *user = jsonh_get(req, "user");
    const char *name = "vcap";

    if (user != NULL) {
        if (!json_object_is_type(user, json_type_string))
            return w_err(err, "user: must be a string");
        name = json_object_get_string(user);
    }
    if (passwd_lookup("/", name, &o->user, err) < 0)
        return -1;
    o->env = jsonh_get(req, "env");
    if (check_env(o->env, err) < 0)
        return -1;
    return parse_rlimits(jsonh_get(req, "rlimits"), o, err);
}

static void __attribute__((noreturn)) die(const char *what)
{
    int e = errno;
    dprintf(STDERR_FILENO, "wshd: %s: %s\n", what, strerror(e));
    _exit(127);
}

static void reset_signals(void)
{
    sigset_t none;

    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL); /* fails harmlessly for KILL, STOP and the RT ones glibc uses */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Move the request's fds to 0, 1, 2. They are >= 3 in wshd (its own 0-2 are open),
 * but dup them high first so no order of dup2 can clobber one. */
static void setup_stdio(const struct spawn_opts *o)
{
    int hi[3];

    for (int i = 0; i < 3; i++)
        if ((hi[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
            die("dup");
    for (int i = 0; i < 3; i++)
        if (dup2(hi[i], i) < 0)
            die("dup2");
}

static void setup_env(const struct spawn_opts *o)
{
    const struct pw_user *u = &o->user;

    clearenv();
    setenv("HOME", u->home, 1);
    setenv("USER", u->name, 1);
    setenv("PATH", u->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                               : "/usr/local/bin:/usr/bin:/bin", 1);
    setenv("LANG", "en_US.UTF-8", 1);
    if (o->term)
        setenv("TERM", o->term, 1);
    if (o->env) {
        json_object_object_foreach(o->env, key, val)
            setenv(key, json_object_get_string(val), 1);
    }
}

static void setup_user(const struct spawn_opts *o)
{
    const struct pw_user *u = &o->user;

    for (int i = 0; i < o->nrlimits; i++) {
        struct rlimit rl = {o->rlimits[i].value, o->rlimits[i].value};
        if (setrlimit(o->rlimits[i].resource, &rl) < 0)
            die("setrlimit");
    }
    if (setgroups((size_t)u->ngroups, u->groups) < 0)
        die("setgroups");
    if (setgid(u->gid) < 0)
        die("setgid");
    if (setuid(u->uid) < 0)
        die("setuid");
    if (u->uid != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("prctl no_new_privs");
    if (chdir(u->home) < 0 && chdir("/") < 0)
        die("chdir /");
}

static void __attribute__((noreturn)) spawn_child(const struct spawn_opts *o)
{
    reset_signals();
    if (setsid() < 0)
        die("setsid");
    setup_stdio(o);
    if (o->ctty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
        die("ioctl TIOCSCTTY");
    setup_user(o);
    setup_env(o);
    closefrom(3);
    execvp(o->path ? o->path : o->argv[0], o->argv);
    dprintf(STDERR_FILENO, "wshd: exec %s: %s\n", o->path ? o->path : o->argv[0],
            strerror(errno));
    _exit(127);
}

pid_t spawn_start(const struct spawn_opts *o, struct w_error *err)
{
    pid_t pid = fork();

    if (pid < 0)
        return w_errno(err, errno, "fork");
    if (pid == 0)
        spawn_child(o);
    return pid;
}
