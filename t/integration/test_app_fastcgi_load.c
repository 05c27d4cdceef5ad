/*
 * test_app_fastcgi_load.c -- [app] protocol = fastcgi under load, each test
 * with a runtime of its own: max_requests recycling and php-cgi's own
 * request limit (taken over by the worker, a successor started beforehand)
 * with no request failing; 200 concurrent requests over four copies; three
 * copies at work at once with a single worker thread, and requests beyond
 * the copies waiting for one without a thread; a client that hangs up while
 * its request waits for a copy costs no copy.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_fastcgi_suite.h"

/*
 * max_requests = 20 with 2 copies: 400 requests over 20 connections make
 * about 20 replacements, and not one request fails.
 */
START_TEST(max_requests_recycles_under_load_without_failure) {
    char text[2000];
    fixture_config(text, sizeof text, 2, "max_requests = 20\n");
    app_start("recycle", text, NULL);
    static load l;
    memset(&l, 0, sizeof l);
    l.path = "/pid";
    l.prefix = "recycle";
    l.total = 400;
    l.conc = 20;
    l.max_per_pid = 20;
    run_load(&l);
    ck_assert_msg(l.npids >= 20, "%d copies served 400 requests at 20 each", l.npids);
    expect_recycled_copies(2, 5000);
    assert_in_file(app_rt.err_path, "fcworker: info: app ");
    ck_assert_int_eq(count_in_file(app_rt.err_path, "fcworker: error: "), 0);
    copies_still_serve("recycle");
}
END_TEST

/*
 * php-cgi would end itself after PHP_FCGI_MAX_REQUESTS (10 here) requests;
 * the worker takes the limit over (php-cgi is told 0) and replaces each
 * copy after 10 requests with a successor started beforehand: 300 requests
 * at concurrency 10 over 2 copies see it happen some 30 times, with no
 * request failing and no php-cgi serving more than 10.
 */
START_TEST(php_cgi_own_limit_under_load_without_failure) {
    static const char *const env[] = {"PHP_FCGI_MAX_REQUESTS=10", NULL};
    char text[2000];
    snprintf(text, sizeof text,
             "[app]\nprotocol = fastcgi\ncommand = php-cgi\nprocesses = 2\nscript = %s\n"
             "[invoke]\nhandler = app\n", fastcgi_fixture("pid.php"));
    app_start("php-limit", text, env);
    static load l;
    memset(&l, 0, sizeof l);
    l.path = "/invoke";
    l.prefix = "php-limit";
    l.total = 300;
    l.conc = 10;
    l.max_per_pid = 10;
    run_load(&l);
    ck_assert_msg(l.npids >= 30, "%d php-cgi processes served 300 requests at 10 each", l.npids);
    ck_assert_msg(count_in_file(app_rt.err_path, "its successor (started before) serves now") >= 25,
                  "php-cgi was not replaced by successors:\n%.4000s", slurp(app_rt.err_path));
    ck_assert_int_eq(count_in_file(app_rt.err_path, "after its requests: replaced"), 0);
    ck_assert_int_eq(count_in_file(app_rt.err_path, "fcworker: error: "), 0);
    expect_recycled_copies(2, 5000);
}
END_TEST

typedef struct burst {
    pthread_mutex_t lock;
    pthread_cond_t go_cond;
    int go;
    int ok;
    char first_failure[300];
    int npids;
    pid_t pids[16];
} burst;

static burst B;

static void *burst_client(void *arg) {
    long i = (long)arg;
    char hdr[64];
    http_resp r;
    pthread_mutex_lock(&B.lock);
    while (!B.go) pthread_cond_wait(&B.go_cond, &B.lock);
    pthread_mutex_unlock(&B.lock);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: burst-%ld\r\n", i);
    int rc = http_do(app_rt.port, "GET", "/slow?20", hdr, NULL, 0, &r);
    pthread_mutex_lock(&B.lock);
    if (rc == 0 && r.status == 200 && strstr(r.body, "slow done")) {
        pid_t pid = body_pid(&r);
        int k = 0;
        while (k < B.npids && B.pids[k] != pid) k++;
        if (k == B.npids && B.npids < 16) B.pids[B.npids++] = pid;
        B.ok++;
    } else if (B.first_failure[0] == '\0') {
        snprintf(B.first_failure, sizeof B.first_failure, "burst-%ld: %s %d %.200s", i,
                 rc ? "no complete answer" : "status", rc ? 0 : r.status, rc ? "" : r.body);
    }
    pthread_mutex_unlock(&B.lock);
    if (rc == 0) http_resp_free(&r);
    return NULL;
}

/* 200 requests at once (FC's most per instance) over 4 copies: all 200. */
START_TEST(concurrent_200_across_four_copies) {
    enum { N = 200 };
    char text[2000];
    fixture_config(text, sizeof text, 4, NULL);
    app_start("burst", text, NULL);
    memset(&B, 0, sizeof B);
    pthread_mutex_init(&B.lock, NULL);
    pthread_cond_init(&B.go_cond, NULL);
    static pthread_t th[N];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * 1024);
    for (long i = 0; i < N; i++)
        ck_assert_int_eq(pthread_create(&th[i], &attr, burst_client, (void *)i), 0);
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&B.lock);
    B.go = 1;
    pthread_cond_broadcast(&B.go_cond);
    pthread_mutex_unlock(&B.lock);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ck_assert_msg(B.ok == N, "%d of %d answered 200; the first other: %s", B.ok, N,
                  B.first_failure);
    ck_assert_msg(B.npids == 4, "%d copies served the burst, expected 4", B.npids);
    ck_assert_int_eq(count_in_file(app_rt.out_path, "FC Invoke End RequestId: burst-"), N);
    ck_assert_int_eq(count_in_file(app_rt.out_path, FAILED_END), 0);
    expect_copies(4, 0, 5000);
}
END_TEST

/*
 * A request waiting for its copy's answer holds no worker thread
 * (handler/core/core_park.c): with threads = 1, three slow requests reach
 * the three copies at once. Before, each held the one thread in turn.
 */
START_TEST(copies_work_at_once_with_one_thread) {
    enum { N = 3, SLOW_MS = 4000 };
    char text[2000], path[32];
    fixture_config(text, sizeof text, N, "[worker]\nthreads = 1\n");
    app_start("one-thread", text, NULL);
    int fds[N];
    snprintf(path, sizeof path, "/slow?%d", SLOW_MS);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "one-thread-%d", i);
        fds[i] = app_send_get(path, id);
    }
    int started = wait_for_count(app_rt.err_path, "] slow start", N, SLOW_MS - 1000);
    ck_assert_msg(started == N, "%d of %d copies were at work at once with one thread:\n%s",
                  started, N, slurp(app_rt.err_path));
    for (int i = 0; i < N; i++) {
        http_resp r;
        char id[32];
        snprintf(id, sizeof id, "one-thread-%d", i);
        ck_assert_int_eq(http_read_timeout(fds[i], &r, 0, SLOW_MS + 20000), 0);
        assert_function_success(&app_rt, &r, 200, id);
        http_resp_free(&r);
        close(fds[i]);
    }
}
END_TEST

/*
 * More requests than copies, with threads = 1: the two beyond the copies
 * wait for one without a thread, and each starts as a copy comes free. Had
 * they waited on a thread, the one thread would hold the third while the
 * fourth waited for it: it would start a whole SLOW_MS later.
 */
START_TEST(requests_beyond_the_copies_wait_without_a_thread) {
    enum { COPIES = 2, N = 4, SLOW_MS = 2000 };
    char text[2000];
    fixture_config(text, sizeof text, COPIES, "[worker]\nthreads = 1\n");
    app_start("queued", text, NULL);
    int fds[N];
    long t0 = now_ms();
    char path[32];
    snprintf(path, sizeof path, "/slow?%d", SLOW_MS);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "queued-%d", i);
        fds[i] = app_send_get(path, id);
    }
    int started = wait_for_count(app_rt.err_path, "] slow start", N, SLOW_MS + 1500);
    ck_assert_msg(started == N, "%d of %d requests had started %ld ms after they were sent "
                  "(2 copies, each request %d ms):\n%s", started, N, now_ms() - t0, SLOW_MS,
                  slurp(app_rt.err_path));
    for (int i = 0; i < N; i++) {
        http_resp r;
        char id[32];
        snprintf(id, sizeof id, "queued-%d", i);
        ck_assert_int_eq(http_read_timeout(fds[i], &r, 0, 3 * SLOW_MS + 20000), 0);
        assert_function_success(&app_rt, &r, 200, id);
        http_resp_free(&r);
        close(fds[i]);
    }
}
END_TEST

/*
 * A client that hangs up while its request waits for the one copy (busy
 * with a slow request): the request ends without reaching the copy (the
 * fixture would write X-Pidfile on taking it), and the copy, which never
 * saw it, is not replaced: the next request is served by the same process.
 * Before, the request was sent once the copy came free, its answer could
 * not be delivered, and the copy was stopped and started again.
 */
START_TEST(client_hanging_up_while_waiting_for_a_copy_costs_no_copy) {
    enum { SLOW_MS = 2500 };
    char text[2000], pidfile[400], req[800], path[32];
    fixture_config(text, sizeof text, 1, NULL);
    app_start("hang-up", text, NULL);
    snprintf(path, sizeof path, "/slow?%d", SLOW_MS);
    int busy = app_send_get(path, "hang-up-busy");
    ck_assert_int_eq(wait_for_count(app_rt.err_path, "] slow start", 1, 10000), 1);

    snprintf(pidfile, sizeof pidfile, "%s/hang-up-waiting.pid", app_tmp);
    int fd = http_connect(app_rt.port);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "x-fc-request-id: hang-up-waiting\r\nX-Pidfile: %s\r\n\r\n", pidfile);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    ck_assert_int_eq(wait_for_count(app_rt.out_path,
                                    "FC Invoke Start RequestId: hang-up-waiting\n", 1, 10000), 1);
    close(fd);
    ck_assert_int_eq(wait_for_count(app_rt.out_path,
                                    "FC Invoke End RequestId: hang-up-waiting", 1, 20000), 1);

    http_resp r;
    ck_assert_int_eq(http_read_timeout(busy, &r, 0, SLOW_MS + 20000), 0);
    close(busy);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    pid_t served = copy_pid("hang-up-after");
    ck_assert_msg(access(pidfile, F_OK) != 0, "the request whose client hung up reached the "
                  "copy (pid %d)", (int)read_pidfile(pidfile));
    ck_assert_int_gt(served, 0);
    expect_copies(1, 0, 5000);
    ck_assert_msg(count_in_file(app_rt.err_path, "] slow start") == 1 &&
                      copy_pid("hang-up-again") == served,
                  "the copy was replaced:\n%s", slurp(app_rt.err_path));
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("app_fastcgi_load");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, app_fresh, app_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, max_requests_recycles_under_load_without_failure);
    tcase_add_test(tc, php_cgi_own_limit_under_load_without_failure);
    tcase_add_test(tc, concurrent_200_across_four_copies);
    tcase_add_test(tc, copies_work_at_once_with_one_thread);
    tcase_add_test(tc, requests_beyond_the_copies_wait_without_a_thread);
    tcase_add_test(tc, client_hanging_up_while_waiting_for_a_copy_costs_no_copy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return app_fastcgi_suite_main(make_suite, "/tmp/fcw-fcgi-load-XXXXXX");
}
