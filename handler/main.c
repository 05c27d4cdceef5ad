/*
 * main.c -- fcworker: the FastCGI worker behind nginx in an FC custom container.
 */
#include <fcgiapp.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "error.h"
#include "fclog.h"
#include "group.h"
#include "launcher.h"
#include "metrics_listen.h"
#include "process.h"
#include "server.h"

#define EXIT_CONFIG 2
/* How long the stop may spend ending what the apps left behind. */
#define FINISH_KILL_MS 2000

static void usage(FILE *f) {
    fprintf(f,
            "usage: fcworker [-c FILE] [--check-config] [--config-reference]\n"
            "\n"
            "  -c, --config FILE   INI configuration (default: $FCWORKER_CONFIG, else\n"
            "                      built-in defaults and FCWORKER_* variables only)\n"
            "  -t, --check-config  validate the configuration, print it with where\n"
            "                      each value came from, and exit (0 valid, 2 not)\n"
            "  --config-reference  print conf/README.md's tables of settings (markdown)\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the configuration.\n");
}

/*
 * The stop's last steps: the apps (SIGTERM, stop_timeout, SIGKILL), then
 * whatever any of them left behind, adopted by the worker as a subreaper.
 */
static void finish(void) {
    fcw_app_stop_all();
    unsigned left = fcw_process_kill_everything(FINISH_KILL_MS);
    if (left > 0) fcw_log_warn("killed %u processes left behind by the app or programs", left);
}

/* Every part of the reference, as conf/README.md holds them (make config-reference). */
static int print_reference(void) {
    for (size_t i = 0; fcw_config_reference_parts[i] != NULL; i++)
        fcw_config_reference(stdout, fcw_config_reference_parts[i]);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The command line: -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, const char **config_path, int *check_only) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"config-reference", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *config_path = getenv("FCWORKER_CONFIG");
    *check_only = 0;
    while ((c = getopt_long(argc, argv, "c:th", opts, NULL)) != -1) {
        switch (c) {
        case 'c': *config_path = optarg; break;
        case 't': *check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case 'r': return print_reference();
        default: usage(stderr); return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fcworker: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }
    if (*config_path != NULL && (*config_path)[0] == '\0') *config_path = NULL;
    return -1;
}

/* What the process needs before anything starts: 0, or -1 (said). */
static int prepare_process(void) {
    /*
     * Installs libfcgi's own SIGPIPE handler (when SIGPIPE is at its default),
     * so a write to a connection nginx has closed fails with EPIPE instead of
     * killing the worker.
     */
    if (FCGX_Init() != 0) {
        fcw_log_error("FCGX_Init failed");
        return -1;
    }
    /*
     * Whatever an app or a program starts and leaves behind becomes the
     * worker's to end at the stop, not PID 1's to keep running.
     */
    int rc = fcw_process_adopt_orphans();
    if (rc < 0) fcw_log_warn("cannot become a subreaper (%s): processes that an app leaves "
                             "behind outlive the worker", fcw_strerror(rc));
    if ((rc = fcw_server_take_signals()) < 0) {
        fcw_log_error("cannot start the signal thread: %s", fcw_strerror(rc));
        return -1;
    }
    return 0;
}

/*
 * The app, the metrics listener, then the socket nginx connects to. Returns
 * the socket, or -1 with *code the exit status (cfg freed, what had started
 * stopped).
 */
static int start_serving(fcw_config *cfg, gid_t group, int *code) {
    char err[FCW_CONFIG_ERR_MAX];
    /*
     * The app first: the socket appears only once it can answer, so nginx,
     * and FC's TCP start-up check with it, never see a worker that would
     * answer 502.
     */
    if (fcw_server_attach_app(cfg, NULL, err, sizeof err, code) < 0) {
        fcw_config_free(cfg);
        if (fcw_server_stop_signal() != 0) {
            fcw_log_info("stopped while the app was starting");
            finish();
            *code = 0;
            return -1;
        }
        fcw_log_error("cannot start the app: %s", err);
        finish();
        return -1;
    }
    *code = 1;
    /* Before the socket too: a port that cannot be bound stops the worker before nginx starts. */
    if (cfg->metrics_listen != NULL) {
        if (fcw_metrics_listen_start(&cfg->metrics_addr, cfg->metrics_listen, err,
                                     sizeof err) < 0) {
            fcw_log_error("cannot serve metrics: %s", err);
            fcw_config_free(cfg);
            finish();
            return -1;
        }
        fcw_log_info("metrics on http://%s/metrics", cfg->metrics_listen);
    }
    int fd = fcw_server_listen(cfg->socket_path, cfg->socket_mode, group, err, sizeof err);
    if (fd < 0) {
        fcw_log_error("cannot listen: %s", err);
        fcw_config_free(cfg);
        fcw_metrics_listen_stop();
        finish();
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    const char *config_path;
    int check_only;
    char err[FCW_CONFIG_ERR_MAX];

    int rc = parse_args(argc, argv, &config_path, &check_only);
    if (rc >= 0) return rc;
    /* Before a plugin's load or an app's start can start a thread. */
    if (!check_only) fcw_server_block_signals();

    fcw_config *cfg;
    if (fcw_config_load(config_path, &cfg, err, sizeof err) < 0) {
        fcw_log_error("invalid configuration: %s", err);
        return EXIT_CONFIG;
    }
    if (check_only) {
        fcw_config_dump(cfg, STDOUT_FILENO);
        fcw_config_free(cfg);
        return 0;
    }
    fcw_launcher_take_fd();
    fcw_launcher_say_settings(cfg);
    /* Looked up once, for the directory and the socket. (gid_t)-1: the worker's own. */
    gid_t group = (gid_t)-1;
    int grc = cfg->socket_group != NULL ? fcw_group_id(cfg->socket_group, &group) : 0;
    if (grc < 0) {
        fcw_log_error("socket_group %s: %s", cfg->socket_group, fcw_group_strerror(grc));
        fcw_config_free(cfg);
        return 1;
    }
    /* Before anything that takes time: fcworker-run starts nginx in it once it exists. */
    if (fcw_server_socket_dir(cfg->socket_path, group, err, sizeof err) < 0) {
        fcw_log_error("%s", err);
        fcw_config_free(cfg);
        return 1;
    }
    if (prepare_process() < 0) {
        fcw_config_free(cfg);
        return 1;
    }
    if (cfg->app.present) fcw_launcher_say("app");
    int code;
    int fd = start_serving(cfg, group, &code);
    if (fd < 0) return code;
    char *socket_path = strdup(cfg->socket_path);
    fcw_server_publish(cfg);
    fcw_log_info("listening on %s (up to %u threads)", socket_path, cfg->threads);
    fcw_launcher_say("ready");

    rc = fcw_server_run(fd, config_path);
    /* Scrapes went on during the drain; the worker is done now. */
    fcw_metrics_listen_stop();
    unlink(socket_path);
    free(socket_path);
    /* After the drain: the app's in-flight requests are answered, now it may go. */
    finish();
    int app_rc = fcw_app_exit_code();
    return app_rc != 0 ? app_rc : rc;
}
