/* wardend: the Warden server. Runs in the foreground; one thread, one select() loop.
 * main owns the two globals (wardend.h), the start-up order (config, log, loop,
 * signals, jobs, registry, host-setup.sh, restore, listen) and the wiring of the
 * callbacks that let lower modules reach up without including anything above them. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cfg.h"
#include "commands.h"
#include "copy.h"
#include "create.h"
#include "env.h"
#include "health.h"
#include "hook.h"
#include "job.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "oom.h"
#include "pidfile.h"
#include "registry.h"
#include "restore.h"
#include "server.h"
#include "snapshot.h"
#include "spawnp.h"
#include "wardend.h"
#include "warm.h"
#include "wshd_watch.h"

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111

struct w_config *g_cfg;
struct loop *g_loop;

static void usage(FILE *f)
{
    fprintf(f, "Usage: wardend [--config FILE]\n"
               "Run the Warden container server in the foreground.\n\n"
               "  -c, --config FILE  JSON configuration (default: built-in defaults)\n"
               "  -h, --help         show this help\n"
               "  -V, --version      show the version\n\n"
               "Exit status: 0 after SIGTERM/SIGINT or a drain (SIGUSR2), 100 usage,\n"
               "111 start-up failure.\n");
}

/* systemd's Type=notify (etc/warden.service); nothing when not under a manager. */
static void tell_manager(const char *msg)
{
    struct w_error err;

    if (notify_send(msg, &err) < 0)
        log_msg(LOG_WARNING, "%s", err.msg);
}

static int draining;

/* The last step of every clean exit. */
static void leave(struct loop *loop)
{
    if (g_cfg->server.pidfile[0] != '\0')
        pidfile_unlink(g_cfg->server.pidfile);
    loop_stop(loop);
}

/* Work no connection waits for: container ops (a destroy whose client went away, a
 * grace-time destroy), hooks (a warm pool refill, the teardown after a destroy
 * replied), copies whose client went away. */
static int background_work(void)
{
    int n = hook_running() + warm_busy() + copy_running();

    for (struct container *ct = ct_first(); ct; ct = ct->next)
        n += ct->ops != NULL;
    return n;
}

static long long drain_deadline;

/* SIGUSR2, once the server has no connection left and its background work is done (or
 * past the bound: the next start finishes a half-done create or destroy): every
 * snapshot, then exit 0; the next wardend adopts the containers and their jobs. */
static void drain_finish(struct loop *loop, long long id, void *data)
{
    int n = 0, busy = background_work();

    (void)id, (void)data;
    if (busy > 0 && loop_now_ms() < drain_deadline) {
        loop_add_timer(loop, 20, drain_finish, NULL);
        return;
    }
    if (busy > 0)
        log_msg(LOG_WARNING, "drain: %d background operation(s) still running; exiting anyway",
                busy);
    for (struct container *ct = ct_first(); ct; ct = ct->next, n++)
        snapshot_save(ct);
    log_msg(LOG_INFO, "drain: %d snapshots written; exiting", n);
    leave(loop);
}

static void on_drained(void)
{
    int busy = background_work();

    /* A destroy is a stop (stop_timeout) and destroy.sh; a create a few hooks. */
    drain_deadline =
        loop_now_ms() +
        (long long)((2 * g_cfg->server.hook_timeout + g_cfg->server.stop_timeout) * 1000);
    if (busy > 0)
        log_msg(LOG_INFO, "drain: waiting for %d background operation(s)", busy);
    drain_finish(g_loop, 0, NULL);
}

static long long stop_deadline;

/* SIGTERM: leave once no teardown runs (destroy answered for them: they finish, bounded
 * by destroy.sh's hook_timeout; past that the next start finishes them). */
static void stop_finish(struct loop *loop, long long id, void *data)
{
    int n = ct_teardowns_running();

    (void)id, (void)data;
    if (n > 0 && loop_now_ms() < stop_deadline) {
        loop_add_timer(loop, 5, stop_finish, NULL);
        return;
    }
    if (n > 0)
        log_msg(LOG_WARNING, "stop: %d teardown(s) still running; exiting anyway", n);
    leave(loop);
}

/* SIGTERM, once the warm pool is destroyed (containers handed out keep running). */
static void drained(void)
{
    int n = ct_teardowns_running();

    stop_deadline = loop_now_ms() + (long long)((g_cfg->server.hook_timeout + 1) * 1000);
    if (n > 0)
        log_msg(LOG_INFO, "stop: waiting for %d teardown(s)", n);
    stop_finish(g_loop, 0, NULL);
}

static void on_signal(struct loop *loop, int fd, int mask, void *data)
{
    struct signalfd_siginfo si;

    (void)loop, (void)mask, (void)data;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            hook_reap();
            break;
        case SIGHUP: /* logrotate: reopen the log file; on failure keep the old one */
            if (g_cfg->logging.file[0] == '\0')
                break;
            if (log_set_file(g_cfg->logging.file) < 0)
                log_msg(LOG_ERR, "SIGHUP: cannot reopen %s: %s", g_cfg->logging.file,
                        strerror(errno));
            else
                log_msg(LOG_INFO, "SIGHUP: log file reopened");
            break;
        case SIGTERM:
        case SIGINT:
            log_msg(LOG_INFO, "signal %d: shutting down (containers keep running)",
                    (int)si.ssi_signo);
            tell_manager("STOPPING=1");
            health_close();
            server_shutdown();
            /* The loop goes on until the warm pool is destroyed, to reap its hooks. */
            warm_drain(drained);
            break;
        case SIGUSR2:
            if (draining)
                break;
            draining = 1;
            log_msg(LOG_INFO, "SIGUSR2: draining (containers and jobs keep running)");
            tell_manager("STOPPING=1");
            health_close();
            warm_hold();
            server_drain(on_drained);
            break;
        default:
            break;
        }
    }
}

/* host-setup.sh: the instance's global chains and cgroup parents, before any container. */
static int host_setup(struct w_error *err)
{
    char **env = env_host();
    int ret;

    if (env == NULL)
        return w_err(err, "host-setup.sh environment: out of memory");
    ret = hook_run_sync("host-setup.sh", NULL, env, NULL, err);
    spawnp_strv_free(env);
    return ret;
}

/* Everything after the loop exists, in order; each step may use the ones before it. */
static int start(struct w_error *err)
{
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR2};
    int sfd = loop_signalfd(sigs, 5, err);

    if (sfd < 0 || loop_add_fd(g_loop, sfd, LOOP_READ, on_signal, NULL, err) < 0)
        return -1;
    commands_init();
    snapshot_set_jobs(job_snapshot);
    wshd_watch_init(lifecycle_wshd_exited);
    oom_init(lifecycle_oom);
    server_on_conn_closed(lifecycle_conn_closed);
    if (job_init(err) < 0 || registry_init(err) < 0 || host_setup(err) < 0)
        return -1;
    restore_all();
    if (warm_init(create_pooled, err) < 0)
        return -1;
    if (server_listen(commands_dispatch, err) < 0 ||
        health_listen(g_cfg->health_check_server.port, err) < 0)
        return -1;
    /* Last: a pidfile names a wardend that answers. */
    if (g_cfg->server.pidfile[0] != '\0' && pidfile_create(g_cfg->server.pidfile, err) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    static struct w_config cfg;
    const char *config_path = NULL;
    struct w_error err;
    int c;

    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("wardend %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "wardend: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    config_defaults(&cfg);
    if (config_path && config_load_file(&cfg, config_path, &err) < 0) {
        fprintf(stderr, "wardend: %s\n", err.msg);
        return EXIT_SYSTEM;
    }
    g_cfg = &cfg;
    log_set_level(cfg.logging.level);
    if (log_set_file(cfg.logging.file) < 0) {
        fprintf(stderr, "wardend: log file %s: %s\n", cfg.logging.file, strerror(errno));
        return EXIT_SYSTEM;
    }
    signal(SIGPIPE, SIG_IGN);
    g_loop = loop_new();
    if (g_loop == NULL) {
        log_msg(LOG_ERR, "out of memory");
        return EXIT_SYSTEM;
    }
    if (start(&err) < 0) {
        log_msg(LOG_ERR, "start-up failed: %s", err.msg);
        /* With a log file the operator who started us would see nothing. */
        if (cfg.logging.file[0] != '\0')
            fprintf(stderr, "wardend: start-up failed: %s\n", err.msg);
        return EXIT_SYSTEM;
    }
    log_msg(LOG_INFO, "wardend %s ready on %s (instance %s)", PACKAGE_VERSION,
            cfg.server.unix_domain_path, cfg.server.instance);
    /* The socket listens and the depot is restored: clients may come. */
    tell_manager("READY=1");
    if (loop_run(g_loop, &err) < 0) {
        log_msg(LOG_ERR, "%s", err.msg);
        return EXIT_SYSTEM;
    }
    loop_free(g_loop);
    config_free(&cfg);
    return 0;
}
