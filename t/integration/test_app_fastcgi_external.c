/*
 * test_app_fastcgi_external.c -- [app] protocol = fastcgi with a server the
 * worker did not start (no command): the fixture started as spawn-fcgi
 * would (502 while it is gone, used again once back; overlapping requests
 * queue for its one process), and a record-level server written here that
 * never answers and sees FCGI_ABORT_REQUEST at the timeout.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

/*
 * The fixture on a unix socket at path, started the way spawn-fcgi starts
 * one: the test binds and listens, and the program gets the socket as fd 0.
 */
static pid_t start_external(const char *path) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof un.sun_path);
    strcpy(un.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(null, 1);
        dup2(null, 2);
        for (int k = 3; k < 1024; k++) close(k);
        setpgid(0, 0);
        putenv(app_marker);
        execl(fixture_bin, "fcgi-fixture", (char *)NULL);
        _exit(127);
    }
    close(fd);
    return pid;
}

/* GET /pid, until it answers 200: the status, and the pid that answered. */
typedef struct pid_answer {
    int status;
    pid_t pid;
} pid_answer;

static int pid_answered(void *arg) {
    pid_answer *a = arg;
    http_resp r;
    app_request("GET", "/pid", NULL, NULL, 0, &r);
    a->status = r.status;
    if (a->status == 200) a->pid = body_pid(&r);
    http_resp_free(&r);
    return a->status == 200;
}

/*
 * Without command, address names a server started some other way: used as
 * it is (its connection kept and reused), a 502 while it is gone without
 * the worker going, and served again once a server is back on the address.
 */
START_TEST(external_server_without_command) {
    char sock[400], text[1500];
    http_resp r;
    need_fixture();
    snprintf(sock, sizeof sock, "%s/external.sock", app_tmp);
    pid_t ext = start_external(sock);
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\naddress = unix:%s\nscript = %s\n"
             "[invoke]\nhandler = app\n", sock, fastcgi_fixture("pid.php"));
    app_start("external", text, NULL);
    pid_t worker = rt_worker_pid(&app_rt);
    ck_assert_int_gt(worker, 0);
    ck_assert_int_eq(live_children(worker, NULL, 0, NULL), 0);

    app_request("POST", "/env/x?q=1", "x-fc-request-id: ext-1\r\n", "abc", 3, &r);
    assert_function_success(&app_rt, &r, 200, "ext-1");
    assert_env(r.body, "REQUEST_URI", "/env/x?q=1");
    assert_env(r.body, "HTTP_X_FC_REQUEST_ID", "ext-1");
    assert_env(r.body, "SCRIPT_FILENAME", fastcgi_fixture("pid.php"));
    assert_env(r.body, "REDIRECT_STATUS", "200");
    http_resp_free(&r);
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "ext-pid-%d", i);
        ck_assert_int_eq(copy_pid(id), ext);
    }
    app_request("POST", "/status?500", "x-fc-request-id: ext-500\r\n", NULL, 0, &r);
    assert_function_error(&app_rt, &r, 500, "ext-500");
    http_resp_free(&r);
    app_request("POST", "/stderr", "x-fc-request-id: ext-err\r\n", NULL, 0, &r);
    assert_function_success(&app_rt, &r, 200, "ext-err");
    http_resp_free(&r);
    assert_in_file(app_rt.err_path, "fcworker: info: [ext-err] first line from the app\n");

    /* Gone: 502, the worker stays. */
    stop_child(ext);
    app_request("POST", "/invoke", "x-fc-request-id: ext-gone\r\n", NULL, 0, &r);
    assert_function_error(&app_rt, &r, 502, "ext-gone");
    http_resp_free(&r);
    ck_assert_msg(process_alive(worker), "the worker exited when a server it did not start went");

    /* Back on the same address: used again. */
    ext = start_external(sock);
    pid_answer answer = {0, 0};
    wait_until_every(pid_answered, &answer, 10000, 50000);
    ck_assert_msg(answer.status == 200, "the new server on the address was never used: %d",
                  answer.status);
    ck_assert_int_eq(answer.pid, ext);
    rt_stop(&app_rt);
    stop_child(ext);
}
END_TEST

/*
 * A single-process server (libfcgi serves one connection at a time, as
 * each php-fpm child does) and requests that overlap: they must queue for
 * it, not wait on a second connection it never accepts while the worker
 * keeps the first one.
 */
START_TEST(external_server_overlapping_requests) {
    enum { N = 4 };
    char sock[400], text[1500];
    need_fixture();
    snprintf(sock, sizeof sock, "%s/external-overlap.sock", app_tmp);
    pid_t ext = start_external(sock);
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\naddress = unix:%s\n[invoke]\nhandler = app\n"
             "timeout = 5\n", sock);
    app_start("external-overlap", text, NULL);
    slow_call calls[N];
    pthread_t th[N];
    long t0 = now_ms();
    for (int i = 0; i < N; i++) {
        calls[i] = (slow_call){.status = 0};
        snprintf(calls[i].id, sizeof calls[i].id, "overlap-%d", i);
        snprintf(calls[i].path, sizeof calls[i].path, "/slow?300");
        ck_assert_int_eq(pthread_create(&th[i], NULL, slow_client, &calls[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    long ms = now_ms() - t0;
    int ok = 0;
    for (int i = 0; i < N; i++) ok += calls[i].status == 200 && calls[i].pid == ext;
    char *err = slurp(app_rt.err_path);
    ck_assert_msg(ok == N, "%d of %d overlapping requests to one external process answered 200 "
                  "(statuses %d %d %d %d) after %ld ms; stderr:\n%.3000s", ok, N, calls[0].status,
                  calls[1].status, calls[2].status, calls[3].status, ms, err);
    free(err);
    rt_stop(&app_rt);
    stop_child(ext);
}
END_TEST

/*
 * A FastCGI server written here, record by record, that never answers:
 * what the worker sends, and that a request past its timeout ends with
 * FCGI_ABORT_REQUEST for that request before the connection is closed.
 */
typedef struct raw_server {
    int listen_fd;
    int begin_id, role, flags;  /* BEGIN_REQUEST: its id, role and flags */
    size_t params, stdin_len;   /* content bytes of PARAMS and STDIN */
    int params_end, stdin_end;  /* the empty record that ends each stream */
    int abort_id;               /* FCGI_ABORT_REQUEST's id, 0 if none */
    int eof_after_abort;        /* the worker closed the connection after the abort */
    char order[64];             /* record types in the order they came */
} raw_server;

static void *raw_server_run(void *arg) {
    raw_server *s = arg;
    static fcgi_rec rec;
    long deadline = now_ms() + 20000;
    /* The worker's readiness probe connects and closes: the request comes on another. */
    while (s->begin_id == 0 && now_ms() < deadline) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) break;
        size_t n = 0;
        int rc;
        while ((rc = fcgi_read_record(fd, &rec, (int)(deadline - now_ms()))) == 1) {
            if (n + 1 < sizeof s->order) s->order[n++] = (char)('0' + rec.type);
            switch (rec.type) {
            case 1:
                s->begin_id = rec.id;
                s->role = rec.len >= 3 ? (rec.data[0] << 8 | rec.data[1]) : -1;
                s->flags = rec.len >= 3 ? rec.data[2] : -1;
                break;
            case 2: s->abort_id = rec.id; break;
            case 4:
                s->params += rec.len;
                if (rec.len == 0) s->params_end = 1;
                break;
            case 5:
                s->stdin_len += rec.len;
                if (rec.len == 0) s->stdin_end = 1;
                break;
            default: break;
            }
        }
        if (rc == 0 && s->abort_id) s->eof_after_abort = 1;
        close(fd);
    }
    return NULL;
}

START_TEST(timeout_sends_abort_request_then_closes) {
    char sock[400], text[1500];
    static raw_server srv;
    http_resp r;
    memset(&srv, 0, sizeof srv);
    snprintf(sock, sizeof sock, "%s/raw.sock", app_tmp);
    unlink(sock);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, sock);
    srv.listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(srv.listen_fd, 0);
    ck_assert_int_eq(bind(srv.listen_fd, (struct sockaddr *)&un, sizeof un), 0);
    ck_assert_int_eq(listen(srv.listen_fd, 16), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, raw_server_run, &srv), 0);
    snprintf(text, sizeof text, "[app]\nprotocol = fastcgi\naddress = unix:%s\n"
                                "[invoke]\nhandler = app\ntimeout = 2\n", sock);
    app_start("raw", text, NULL);
    app_request("POST", "/invoke", "x-fc-request-id: raw-1\r\n", "12345", 5, &r);
    assert_function_error(&app_rt, &r, 504, "raw-1");
    http_resp_free(&r);
    pthread_join(th, NULL);
    close(srv.listen_fd);
    ck_assert_msg(srv.begin_id > 0, "no BEGIN_REQUEST came (records: '%s')", srv.order);
    ck_assert_msg(srv.role == 1, "role %d, expected 1 (responder)", srv.role);
    /*
     * A server the worker did not start gets a connection per request (no
     * FCGI_KEEP_CONN): with fewer processes than requests, kept connections
     * would stall (external_server_overlapping_requests).
     */
    ck_assert_msg(srv.flags == 0, "flags %d, expected 0 (no FCGI_KEEP_CONN)", srv.flags);
    ck_assert_msg(srv.params > 0 && srv.params_end, "PARAMS: %zu bytes, ended: %d", srv.params,
                  srv.params_end);
    ck_assert_msg(srv.stdin_len == 5 && srv.stdin_end, "STDIN: %zu bytes, ended: %d",
                  srv.stdin_len, srv.stdin_end);
    ck_assert_msg(srv.abort_id == srv.begin_id, "ABORT_REQUEST for %d, the request was %d "
                  "(records: '%s')", srv.abort_id, srv.begin_id, srv.order);
    ck_assert_msg(srv.eof_after_abort, "the connection was not closed after the abort ('%s')",
                  srv.order);
    ck_assert_msg(srv.order[0] == '1', "BEGIN_REQUEST was not first: '%s'", srv.order);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_external");
    TCase *tc = tcase_create("external");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, external_server_without_command);
    tcase_add_test(tc, external_server_overlapping_requests);
    tcase_add_test(tc, timeout_sends_abort_request_then_closes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-external-XXXXXX");
}
