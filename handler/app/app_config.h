/*
 * app_config.h -- the [app] section: which long-lived server runs the
 * function, where it listens, and how the worker treats it.
 *
 *   [app]
 *   command = gunicorn -w 2 -b 127.0.0.1:9001 app:app   (optional: started by fcworker)
 *   protocol = http
 *   address = 127.0.0.1:9001                             (or unix:/path, [::1]:PORT)
 *   directory = /opt/function                            (command's working directory)
 *   ready_timeout = 120   restart = always|never   stop_timeout = 10
 *   error_statuses = 500-599   fc_lines = worker|app
 *   processes = 4   max_requests = 0   script = /opt/function/index.php  (fastcgi)
 *
 * Its keys are rows of config_table.c, read as every other setting is;
 * checked here, once, when a configuration is loaded: a missing
 * program, interpreter or malformed address is found at start-up or reload.
 * A handler spec `app` on any route sends that route's requests to it.
 */
#ifndef FCW_APP_CONFIG_H
#define FCW_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "addr.h"
#include "config_value.h"
#include "origin.h"

typedef enum fcw_app_protocol { FCW_APP_HTTP = 0, FCW_APP_FASTCGI } fcw_app_protocol;
typedef enum fcw_app_restart { FCW_APP_RESTART_ALWAYS = 0, FCW_APP_RESTART_NEVER } fcw_app_restart;

typedef struct fcw_app_config {
    int present;              /* some [app] key was given, in the file or the environment */
    char *command;            /* NULL: a server started some other way */
    char *address;
    char *directory;          /* NULL: the worker's working directory */
    fcw_app_protocol protocol;
    unsigned ready_timeout_s;
    unsigned stop_timeout_s;
    fcw_app_restart restart;
    char *error_statuses_text;
    fcw_status_set error_statuses;
    int fc_lines_app;         /* the app writes FC's Start/End lines itself */
    unsigned processes;       /* fastcgi with a command: copies started */
    unsigned max_requests;    /* fastcgi: a copy is replaced after this many; 0 never */
    char *script;             /* fastcgi: SCRIPT_FILENAME, the front controller */
    fcw_origin section_origin;  /* where the section was first seen */
    fcw_origin command_origin, protocol_origin, address_origin, directory_origin;
    fcw_origin ready_origin, stop_origin, restart_origin, errors_origin, fc_lines_origin;
    fcw_origin processes_origin, max_requests_origin, script_origin;

    /* Filled in by fcw_app_config_check. */
    fcw_addr addr;
    char *program;            /* command's program, resolved to a path */
    char **argv;              /* argv[0] is program; points into args */
    char *args;
} fcw_app_config;

void fcw_app_config_free(fcw_app_config *ac);

/*
 * A spawned FastCGI app without an address listens where the worker's own
 * socket is: dir/app.sock.
 */
int fcw_app_config_default_address(fcw_app_config *ac, const char *dir, char *err,
                                   size_t errlen);

/*
 * Once every value is in: the address parsed, the program found, executable
 * and its #! interpreter present. 0, or a negative errno with err naming the
 * value and where it came from.
 */
int fcw_app_config_check(fcw_app_config *ac, char *err, size_t errlen);

/*
 * Whether a and b start and reach the same app (a reload keeps it running):
 * every key the table marks FCW_RELOAD_NEW_APP is the same.
 */
bool fcw_app_config_same_app(const fcw_app_config *a, const fcw_app_config *b);
/* Whether a and b name the same address. */
bool fcw_app_config_same_address(const fcw_app_config *a, const fcw_app_config *b);

#endif
