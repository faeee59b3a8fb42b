/* Process setup between clone and exec. wshd (pid 1 of the container) validates a
 * request here, prepares what the child needs, then clones; the child runs
 * spawn_child() and either execs or exits 127 with one line on its stderr, like a
 * shell that cannot find a command. */
#include "config.h"

#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"
#include "jsonh.h"
#include "rlimits.h"
#include "spawnp.h"

static int parse_rlimits(struct json_object *obj, struct spawn_opts *o, struct w_error *err)
{
    if (obj == NULL)
        return 0;
    if (!json_object_is_type(obj, json_type_object))
        return w_err(err, "rlimits: must be an object");
    json_object_object_foreach(obj, key, val)
    {
        int resource = rlimits_resource(key);
        long long v;

        if (resource < 0)
            return w_err(err, "rlimits.%.64s: unknown limit", key);
        if (!json_object_is_type(val, json_type_int))
            return w_err(err, "rlimits.%s: must be an integer", key);
        v = json_object_get_int64(val);
        if (v < 0)
            return w_err(err, "rlimits.%s: must be >= 0", key);
        if (o->nrlimits == SPAWN_MAX_RLIMITS)
            return w_err(err, "rlimits: too many");
        o->rlimits[o->nrlimits].resource = resource;
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

int spawn_open_pty(int rows, int cols, uid_t uid, int *master, int *slave, struct w_error *err)
{
    struct winsize ws = {0};
    char name[64];

    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return w_errno(err, errno, "open /dev/ptmx");
    if (unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof(name)) != 0) {
        int e = errno;
        close(*master);
        return w_errno(err, e, "unlockpt/ptsname of the pty master");
    }
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) {
        int e = errno;
        close(*master);
        return w_errno(err, e, "open %s", name);
    }
    (void)!fchown(*slave, uid, (gid_t)-1);
    ws.ws_row = (unsigned short)rows;
    ws.ws_col = (unsigned short)cols;
    ioctl(*master, TIOCSWINSZ, &ws);
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

/* ---- the child ----
 * It shares wshd's memory (CLONE_VM|CLONE_VFORK, as posix_spawn does: no copy-on-write
 * faults, which cost more than the exec on a VM) until it execs or exits, and wshd
 * waits meanwhile. So from here on: system calls and reads only, no malloc, no stdio,
 * nothing that writes memory wshd uses. Everything it needs is prepared beforehand. */

struct prepared {
    const struct spawn_opts *o;
    char **envp;      /* "K=V", NULL-terminated */
    const char *path; /* the PATH the lookup uses: the job's own */
};

static void put(const char *s)
{
    ssize_t r = write(STDERR_FILENO, s, strlen(s));
    (void)r;
}

static void __attribute__((noreturn)) die(const char *what)
{
    const char *e = strerror(errno); /* a static string for every errno the calls give */

    put("wshd: ");
    put(what);
    put(": ");
    put(e);
    put("\n");
    _exit(127);
}

/* The signals whose disposition in wshd is not SIG_DFL (ignored ones would stay so
 * across exec), read once by wshd before its first clone: wshd sets its dispositions
 * at start (SIGPIPE ignored, in main) and never after (SIGCHLD and the rest come
 * through a signalfd). -1: not read, reset them all. */
static int g_set_sigs[NSIG], g_nset_sigs = -1;

static void prepare_signals(void)
{
    struct sigaction sa;

    if (g_nset_sigs >= 0)
        return;
    g_nset_sigs = 0;
    for (int s = 1; s < NSIG; s++)
        if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
            g_set_sigs[g_nset_sigs++] = s;
}

static void reset_signals(void)
{
    sigset_t none;

    if (g_nset_sigs < 0) {
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL); /* fails harmlessly for KILL, STOP and the RT ones glibc uses */
    } else {
        for (int i = 0; i < g_nset_sigs; i++)
            signal(g_set_sigs[i], SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Move the request's fds to 0, 1, 2. They are >= 3 in wshd (its own 0-2 are open),
 * but dup them high first so no order of dup2 can clobber one. The child has its own
 * descriptor table (no CLONE_FILES): wshd's stays as it was. */
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

/* Raw system calls: glibc's wrappers may signal every thread of the process (setxid),
 * which is wshd's memory too. */
static void setup_user(const struct spawn_opts *o)
{
    const struct pw_user *u = &o->user;

    for (int i = 0; i < o->nrlimits; i++) {
        struct rlimit rl = {o->rlimits[i].value, o->rlimits[i].value};
        if (setrlimit(o->rlimits[i].resource, &rl) < 0)
            die("setrlimit");
    }
    if (confine_child_caps(u->uid) < 0)
        die("drop the bounding set");
    if (syscall(SYS_setgroups, (size_t)u->ngroups, u->groups) < 0)
        die("setgroups");
    if (syscall(SYS_setgid, u->gid) < 0)
        die("setgid");
    if (syscall(SYS_setuid, u->uid) < 0)
        die("setuid");
    if (u->uid != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("prctl no_new_privs");
    if (chdir(u->home) < 0 && chdir("/") < 0)
        die("chdir /");
}

static void close_from_3(void)
{
    struct rlimit rl;

    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
    /* Before Linux 5.9. */
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > (1U << 20))
        rl.rlim_cur = 1U << 20;
    for (rlim_t fd = 3; fd < rl.rlim_cur; fd++)
        close((int)fd);
}

/* execvp's lookup, with the job's PATH rather than wshd's environment. Returns with
 * errno set when nothing could be executed. */
static void exec_lookup(const char *file, char *const argv[], char *const envp[], const char *path)
{
    char buf[PATH_MAX];
    size_t flen = strlen(file);
    int eacces = 0;

    if (strchr(file, '/') != NULL || *file == '\0') {
        execve(file, argv, envp);
        return;
    }
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        size_t dlen = (size_t)(end - p);

        if (dlen == 0) /* an empty entry is the current directory */
            p = ".", dlen = 1;
        if (dlen + 1 + flen < sizeof(buf)) {
            memcpy(buf, p, dlen);
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            execve(buf, argv, envp);
            if (errno == EACCES)
                eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR)
                return;
        }
        if (*end == '\0')
            break;
        p = end;
    }
    errno = eacces ? EACCES : ENOENT;
}

static int spawn_child(void *arg)
{
    const struct prepared *pr = arg;
    const struct spawn_opts *o = pr->o;
    const char *file = o->path ? o->path : o->argv[0];

    reset_signals();
    if (setsid() < 0)
        die("setsid");
    setup_stdio(o);
    if (o->ctty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
        die("ioctl TIOCSCTTY");
    setup_user(o);
    close_from_3();
    /* The seccomp filter is wshd's own (confine_seccomp), kept across clone and exec. */
    exec_lookup(file, o->argv, pr->envp, pr->path);
    put("wshd: exec ");
    put(file);
    put(": ");
    put(strerror(errno));
    put("\n");
    _exit(127);
}

/* ---- wshd's side ---- */

/* Set K=V in the NULL-terminated *envp of *n entries (replacing K), as setenv did. */
static int env_put(char **envp, size_t *n, const char *k, const char *v)
{
    size_t klen = strlen(k);
    char *kv;

    if (asprintf(&kv, "%s=%s", k, v) < 0)
        return -1;
    for (size_t i = 0; i < *n; i++)
        if (strncmp(envp[i], k, klen) == 0 && envp[i][klen] == '=') {
            free(envp[i]);
            envp[i] = kv;
            return 0;
        }
    envp[(*n)++] = kv;
    envp[*n] = NULL;
    return 0;
}

/* HOME, USER, PATH, LANG, TERM, then the request's env (which may replace them). */
static char **job_envp(const struct spawn_opts *o)
{
    const struct pw_user *u = &o->user;
    size_t n = 0, cap = 6 + (o->env ? (size_t)json_object_object_length(o->env) : 0);
    char **envp = calloc(cap + 1, sizeof(*envp));
    int bad = envp == NULL;

    if (bad)
        return NULL;
    bad |= env_put(envp, &n, "HOME", u->home);
    bad |= env_put(envp, &n, "USER", u->name);
    bad |= env_put(envp, &n, "PATH",
                   u->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                               : "/usr/local/bin:/usr/bin:/bin");
    bad |= env_put(envp, &n, "LANG", "en_US.UTF-8");
    if (o->term)
        bad |= env_put(envp, &n, "TERM", o->term);
    if (o->env) {
        json_object_object_foreach(o->env, key, val) bad |=
            env_put(envp, &n, key, json_object_get_string(val));
    }
    if (bad) {
        spawnp_strv_free(envp);
        return NULL;
    }
    return envp;
}

#define CHILD_STACK (64 * 1024)

/* gcc says -fsanitize=address with __SANITIZE_ADDRESS__, clang with __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define W_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define W_ASAN 1
#endif
#endif

pid_t spawn_start(const struct spawn_opts *o, struct w_error *err)
{
    struct prepared pr = {.o = o};
    char *stack;
    pid_t pid;

    pr.envp = job_envp(o);
    stack = malloc(CHILD_STACK);
    if (pr.envp == NULL || stack == NULL) {
        spawnp_strv_free(pr.envp);
        free(stack);
        return w_err(err, "out of memory");
    }
    prepare_signals();
    confine_prepare_child();
    pr.path = "";
    for (size_t i = 0; pr.envp[i]; i++)
        if (strncmp(pr.envp[i], "PATH=", 5) == 0)
            pr.path = pr.envp[i] + 5;
            /* Returns once the child has exec'd or exited: then nothing of ours is in use. */
#if defined(W_ASAN)
    /* AddressSanitizer cannot follow a child on a stack of its own (it warns on the
     * child's _exit, into the job's stderr): sanitized builds fork instead. */
    pid = fork();
    if (pid == 0)
        spawn_child(&pr);
#else
    pid = clone(spawn_child, stack + CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &pr);
#endif
    if (pid < 0)
        w_errno(err, errno, "clone the process of %s", o->argv[0]);
    free(stack);
    spawnp_strv_free(pr.envp);
    return pid < 0 ? -1 : pid;
}
