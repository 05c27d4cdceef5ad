/*
 * test_exec.c -- exec: handlers (CGI/1.1 children) through the real nginx and
 * fcworker: the examples, the environment, streaming in both directions with
 * bounded memory, and every way a program can fail (t/fixtures/exec/).
 */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/*
 * How much the worker's peak RSS may grow while 32 MiB in and 100 MiB out
 * stream through it, relative to the peak after start-up (about 2.5 MB in
 * all).
 */
#define RSS_GROWTH_LIMIT_KB (8 * 1024)

static rt R;
static char tmp_dir[64];        /* config file and pid files of this run */
static long start_hwm_kb;       /* the worker's peak RSS after its first request */

/* ---- the runtime with every fixture behind its own route ---- */

static const exec_route routes[] = {
    {"/hang/", "hang.sh", 2},
    {"/hang-long/", "hang.sh", 120},
    {"/grandchild/", "grandchild.sh", 30},
    {"/exit-nonzero/", "exit-nonzero.sh", 2},
    {"/die-by-signal/", "die-by-signal.sh", 2},
    {"/bad-output/", "bad-output.sh", 2},
    {"/headers/", "headers.sh", 2},
    {"/fail-after/", "fail-after.sh", 10},
    {"/cat/", "cat.sh", 120},
    {"/write-then-read/", "write-then-read.sh", 60},
    {"/no-read/", "no-read.sh", 30},
    {"/big-writer/", "big-writer.sh", 120},
    {"/fds/", "fds.sh", 10},
    {"/env/", "env.sh", 10},
    {"/stderr/", "stderr.sh", 10},
    {"/args/", "args.sh one  two\t'three four'", 10},
    {"/stream-forever/", "stream-forever.sh", 3},
    {"/cat-short/", "cat.sh", 2},
};

static void up_main(void) {
    static char config_env[200], invoke_env[700];
    /*
     * The container's own variables (a function's configuration) reach the
     * program; those named like the request's meta-variables do not, and
     * the request's win over them.
     */
    static const char *env[] = {config_env, invoke_env, "FCWORKER_INVOKE_TIMEOUT=2",
                                "FC_FUNCTION_NAME=exec-fn",
                                "ALIBABA_CLOUD_ACCESS_KEY_ID=ak-test",
                                "EXEC_TEST_CONFIG=reaches-the-program",
                                "REMOTE_USER=from-the-container",
                                "HTTP_X_CUSTOM=from-the-container", NULL};
    char path[128];

    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/fcw-exec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(path, sizeof path, "%s/fcworker.conf", tmp_dir);
    write_exec_config(path, "", routes, sizeof routes / sizeof routes[0]);
    snprintf(config_env, sizeof config_env, "FCWORKER_CONFIG=%s", path);
    snprintf(invoke_env, sizeof invoke_env, "FCWORKER_INVOKE=exec:%s/examples/cgi-hello",
             build_dir());
    rt_start(&R, env);
    http_resp r;
    ck_assert_int_eq(http_do(R.port, "POST", "/invoke", NULL, "warm-up", 7, &r), 0);
    http_resp_free(&r);
    start_hwm_kb = process_hwm_kb(rt_worker_pid(&R));
}

static void down_main(void) {
    rt_stop(&R);
    remove_tree(tmp_dir);
}

/* ---- checks shared by the tests ---- */

static int request(const char *method, const char *path, const char *headers,
                   const void *body, size_t len, http_resp *r, long *elapsed_ms) {
    long t0 = now_ms();
    int rc = http_do(R.port, method, path, headers, body, len, r);
    if (elapsed_ms) *elapsed_ms = now_ms() - t0;
    return rc;
}

static void assert_no_header(const http_resp *r, const char *name) {
    char v[512];
    ck_assert_msg(http_header(r, name, v, sizeof v) == NULL, "unexpected %s: %s in:\n%s",
                  name, v, r->head);
}

static void assert_success_end(const char *id) {
    char line[256];
    snprintf(line, sizeof line, "FC Invoke End RequestId: %s\n", id);
    assert_in_file(R.out_path, line);
}

/*
 * Nothing is left behind: every child was reaped, and what a program left
 * running (adopted by the worker, its subreaper) was killed and reaped too,
 * within the signal thread's orphan sweep.
 */
static void assert_worker_has_no_children(void) {
    pid_t worker = rt_worker_pid(&R);
    ck_assert_int_gt(worker, 0);
    assert_no_children(worker, 2000);
}

static void assert_still_serves(void) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/invoke", "x-fc-request-id: after-fault\r\n", "e", 1, &r,
                             NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    http_resp_free(&r);
    assert_worker_has_no_children();
}

/* "program child" as a fixture writes them to its X-Pidfile. */
typedef struct pids {
    const char *file;
    int program, child;
} pids;

static int pids_written(void *arg) {
    pids *p = arg;
    FILE *f = fopen(p->file, "r");
    if (f == NULL) return 0;
    int n = fscanf(f, "%d %d", &p->program, &p->child);
    fclose(f);
    return n == 2;
}

/* Waits until the fixture has written both pids to pidfile. */
static pids read_pids(const char *pidfile) {
    pids p = {.file = pidfile};
    ck_assert_msg(wait_until(pids_written, &p, 10000), "the fixture did not write %s", pidfile);
    return p;
}

/* The program and the background process it wrote to pidfile are dead. */
static void assert_pids_gone(const char *pidfile, int wait_ms) {
    pids p = read_pids(pidfile);
    ck_assert_msg(wait_process_gone(p.program, wait_ms), "program %d still runs", p.program);
    ck_assert_msg(wait_process_gone(p.child, wait_ms), "its background process %d still runs",
                  p.child);
}

/* The worker's stderr gets line within timeout_ms (it logs after reaping). */
static void assert_logged(const char *line, int timeout_ms) {
    ck_assert_msg(wait_for_count(R.err_path, line, 1, timeout_ms) >= 1, "'%s' not in %s", line,
                  R.err_path);
}

/* ---- large transfers without holding them in memory ---- */

static unsigned char body_byte(uint64_t i) { return (unsigned char)((i * 131) ^ (i >> 13)); }

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}
#define FNV_INIT 14695981039346656037ULL

typedef struct big_resp {
    int status;
    char head[4096];
    uint64_t len, hash;
} big_resp;

/*
 * HTTP/1.0, so the body is not chunked and ends at EOF; the request body is
 * generated (body_byte) and the response hashed as they stream.
 */
static int big_exchange(const char *path, uint64_t body_len, big_resp *out) {
    int fd = http_connect(R.port);
    if (fd < 0) return -1;
    char head[256], chunk[65536];
    int n = snprintf(head, sizeof head, "POST %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                                        "Content-Length: %llu\r\n\r\n",
                     path, (unsigned long long)body_len);
    if (http_send(fd, head, (size_t)n) != 0) goto fail;
    for (uint64_t sent = 0; sent < body_len;) {
        size_t k = body_len - sent < sizeof chunk ? (size_t)(body_len - sent) : sizeof chunk;
        for (size_t i = 0; i < k; i++) chunk[i] = (char)body_byte(sent + i);
        if (http_send(fd, chunk, k) != 0) goto fail;
        sent += k;
    }
    memset(out, 0, sizeof *out);
    out->hash = FNV_INIT;
    size_t hlen = 0;
    int in_body = 0;
    long deadline = now_ms() + 120000;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now_ms())) <= 0) goto fail;
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0) goto fail;
        if (got == 0) break;
        size_t off = 0;
        if (!in_body) {
            size_t take = (size_t)got < sizeof out->head - 1 - hlen ? (size_t)got
                                                                   : sizeof out->head - 1 - hlen;
            memcpy(out->head + hlen, chunk, take);
            out->head[hlen + take] = '\0';
            char *end = strstr(out->head, "\r\n\r\n");
            if (end == NULL) {
                if (hlen + take == sizeof out->head - 1) goto fail;
                hlen += take;
                continue;
            }
            off = (size_t)(end + 4 - out->head) - hlen;
            end[4] = '\0';
            in_body = 1;
            sscanf(out->head, "HTTP/1.%*d %d", &out->status);
        }
        out->hash = fnv(out->hash, (unsigned char *)chunk + off, (size_t)got - off);
        out->len += (uint64_t)got - off;
    }
    close(fd);
    return in_body ? 0 : -1;
fail:
    close(fd);
    return -1;
}

/*
 * The worker's peak RSS stayed within RSS_GROWTH_LIMIT_KB of its start.
 * Not under SANITIZE=1 (build/sanitize): ASan keeps freed blocks in a
 * quarantine of up to 256 MB to catch use-after-free, so a streamed body's
 * buffers count towards RSS there though they are freed; the plain build,
 * which users run, is the one that must stay small.
 */
static void assert_rss_bounded(void) {
    const char *b = build_dir();
    size_t n = strlen(b);
    if (n >= 9 && strcmp(b + n - 9, "/sanitize") == 0) return;
    long hwm = process_hwm_kb(rt_worker_pid(&R));
    ck_assert_msg(start_hwm_kb > 0 && hwm - start_hwm_kb < RSS_GROWTH_LIMIT_KB,
                  "worker peak RSS grew from %ld kB to %ld kB", start_hwm_kb, hwm);
}

/* ---- the examples ---- */

START_TEST(hello_compiled_example) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/invoke", "x-fc-request-id: hello-c\r\n", "ev", 2, &r,
                             NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "Hello, World!");
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    assert_header(&r, "Function-Name", "exec-fn");
    assert_header(&r, "x-fc-status", "200");
    http_resp_free(&r);
    assert_in_file(R.out_path, "FC Invoke Start RequestId: hello-c\n");
    assert_success_end("hello-c");
    /* HEAD: the same headers, no body. */
    ck_assert_int_eq(request("HEAD", "/", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    assert_header(&r, "Content-Length", "13");
    http_resp_free(&r);
    assert_worker_has_no_children();
}
END_TEST

/* ---- what the program sees ---- */

START_TEST(env_visible_to_program) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/env/x?a=1&b=2",
                             "x-fc-request-id: env-1\r\nProxy: http://evil:1/\r\n"
                             "Content-Type: text/plain\r\nX-Custom: v1\r\n"
                             "X-Dup: first\r\nX-Dup: second\r\n",
                             "hello", 5, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    char *env = NULL;
    ck_assert_int_gt(asprintf(&env, "\n%s", r.body), 0);
    static const char *want[] = {
        "\nHTTP_X_FC_REQUEST_ID=env-1\n", "\nFC_REQUEST_ID=env-1\n",
        "\nREQUEST_METHOD=POST\n",        "\nPATH_INFO=/env/x\n",
        "\nQUERY_STRING=a=1&b=2\n",       "\nCONTENT_LENGTH=5\n",
        "\nCONTENT_TYPE=text/plain\n",    "\nFC_FUNCTION_NAME=exec-fn\n",
        "\nGATEWAY_INTERFACE=CGI/1.1\n",  "\nSERVER_PROTOCOL=HTTP/1.1\n",
        "\nREQUEST_URI=/env/x?a=1&b=2\n", "\nHTTP_X_CUSTOM=v1\n",
        "\nSCRIPT_NAME=\n",               "\nALIBABA_CLOUD_ACCESS_KEY_ID=ak-test\n",
        "\nREMOTE_ADDR=127.0.0.1\n",      "\nSERVER_SOFTWARE=fcworker\n",
        "\nPATH=",                        "\nEXEC_TEST_CONFIG=reaches-the-program\n",
        "\nHTTP_X_DUP=first, second\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(env, want[i]) != NULL, "no '%s' in the environment:%s", want[i] + 1,
                      env);
    static const char *unwanted[] = {"\nHTTP_PROXY=", "\nREMOTE_USER=", "\nFCWORKER_",
                                     "\nDOCUMENT_URI="};
    for (size_t i = 0; i < sizeof unwanted / sizeof unwanted[0]; i++)
        ck_assert_msg(strstr(env, unwanted[i]) == NULL, "'%s' in the environment:%s",
                      unwanted[i] + 1, env);
    /* One variable per name: the request's hides the container's, repeats are joined. */
    static const char *once[] = {"\nHTTP_X_CUSTOM=", "\nHTTP_X_DUP=", "\nREQUEST_METHOD=",
                                 "\nFC_REQUEST_ID=", "\nHTTP_X_FC_REQUEST_ID="};
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        ck_assert_msg(count_substr(env, once[i]) == 1, "'%s' %d times in the environment:%s",
                      once[i] + 1, count_substr(env, once[i]), env);
    free(env);
    http_resp_free(&r);

    /*
     * Without x-fc-request-id the worker's own id is FC_REQUEST_ID and the
     * header's variable too (code written for FC reads the header), the id
     * its log lines carry.
     */
    ck_assert_int_eq(request("GET", "/env/", NULL, NULL, 0, &r, NULL), 0);
    char id[64], hdr_id[64], line[128];
    const char *v = strstr(r.body, "\nFC_REQUEST_ID=");
    ck_assert_msg(v && sscanf(v + 15, "%63[^\n]", id) == 1, "no FC_REQUEST_ID:\n%s", r.body);
    v = strstr(r.body, "\nHTTP_X_FC_REQUEST_ID=");
    ck_assert_msg(v && sscanf(v + 22, "%63[^\n]", hdr_id) == 1, "no HTTP_X_FC_REQUEST_ID:\n%s",
                  r.body);
    ck_assert_uint_eq(strlen(id), 36);
    ck_assert_str_eq(hdr_id, id);
    snprintf(line, sizeof line, "FC Invoke Start RequestId: %s\n", id);
    assert_in_file(R.out_path, line);
    ck_assert_ptr_nonnull(strstr(r.body, "\nCONTENT_LENGTH=0\n")); /* the harness sends it */
    http_resp_free(&r);
}
END_TEST

/* Split on whitespace, no shell: quotes stay as they are. */
START_TEST(arguments_and_working_directory) {
    http_resp r;
    char want[700];
    ck_assert_int_eq(request("GET", "/args/", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    snprintf(want, sizeof want, "[one]\n[two]\n['three]\n[four']\ncwd=%s/t/fixtures/exec\n",
             project_dir());
    ck_assert_str_eq(r.body, want);
    http_resp_free(&r);
}
END_TEST

START_TEST(only_stdio_descriptors_reach_program) {
    http_resp r;
    ck_assert_int_eq(request("GET", "/fds/", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    int seen[3] = {0, 0, 0};
    char *save = NULL;
    for (char *line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *arrow = strstr(line, " -> ");
        if (arrow == NULL) continue; /* "total 0" */
        char *num = arrow;
        while (num > line && num[-1] != ' ') num--;
        int fd = atoi(num);
        if (fd <= 2) {
            seen[fd] = 1;
            ck_assert_msg(strncmp(arrow + 4, "pipe:", 5) == 0, "fd %d is not a pipe: %s", fd,
                          line);
            continue;
        }
        /* ls's own handle on the directory it lists, nothing of the worker's. */
        ck_assert_msg(strncmp(arrow + 4, "/proc/", 6) == 0 &&
                          strcmp(arrow + strlen(arrow) - 3, "/fd") == 0,
                      "descriptor leaked into the program: %s", line);
    }
    ck_assert_msg(seen[0] && seen[1] && seen[2], "stdio not all open: %d %d %d", seen[0],
                  seen[1], seen[2]);
    http_resp_free(&r);
}
END_TEST

START_TEST(stderr_lines_logged_with_request_id) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/stderr/", "x-fc-request-id: stderr-1\r\n", NULL, 0, &r,
                             NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "logged");
    http_resp_free(&r);
    assert_in_file(R.err_path, "[stderr-1] first line\n");
    assert_in_file(R.err_path, "[stderr-1] second?[31m line\n");
    char *log = slurp(R.err_path);
    char *cut = strstr(log, "[stderr-1] LLLL");
    ck_assert_msg(cut != NULL, "long line not logged:\n%s", log);
    char *eol = strchr(cut, '\n');
    ck_assert_ptr_nonnull(eol);
    ck_assert_msg(eol - cut < 1100, "long line not cut: %ld bytes", (long)(eol - cut));
    ck_assert_ptr_nonnull(strstr(cut, "[line cut]\n"));
    free(log);
}
END_TEST

/* Each request's program sees its own request id, whatever runs beside it. */
static void *env_client(void *arg) {
    long t = (long)arg, bad = 0;
    for (int i = 0; i < 10; i++) {
        char hdr[64], want[64];
        http_resp r;
        snprintf(hdr, sizeof hdr, "x-fc-request-id: conc-%ld-%d\r\n", t, i);
        snprintf(want, sizeof want, "\nFC_REQUEST_ID=conc-%ld-%d\n", t, i);
        if (request("GET", "/env/", hdr, NULL, 0, &r, NULL) != 0 || r.status != 200 ||
            strstr(r.body, want) == NULL)
            bad++;
        http_resp_free(&r);
    }
    return (void *)bad;
}

START_TEST(concurrent_requests_stay_apart) {
    pthread_t th[8];
    for (long t = 0; t < 8; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, env_client, (void *)t), 0);
    long bad = 0;
    for (int t = 0; t < 8; t++) {
        void *rv;
        pthread_join(th[t], &rv);
        bad += (long)rv;
    }
    ck_assert_msg(bad == 0, "%ld of 80 concurrent requests failed or saw another's id", bad);
    assert_worker_has_no_children();
}
END_TEST

/* ---- streaming ---- */

START_TEST(body_32mib_round_trip) {
    const uint64_t size = 32ULL * 1024 * 1024;
    uint64_t want = FNV_INIT;
    unsigned char chunk[65536];
    for (uint64_t i = 0; i < size;) {
        size_t k = sizeof chunk;
        for (size_t j = 0; j < k; j++) chunk[j] = body_byte(i + j);
        want = fnv(want, chunk, k);
        i += k;
    }
    big_resp b;
    ck_assert_int_eq(big_exchange("/cat/", size, &b), 0);
    ck_assert_msg(b.status == 200, "status %d:\n%s", b.status, b.head);
    ck_assert_uint_eq(b.len, size);
    ck_assert_msg(b.hash == want, "the echoed body differs from the one sent");
    assert_rss_bounded();
    assert_worker_has_no_children();
}
END_TEST

START_TEST(response_100mib_streams) {
    const uint64_t size = 100ULL * 1024 * 1024;
    static const char line[] = "0123456789abcdef\n";
    uint64_t want = FNV_INIT;
    for (uint64_t i = 0; i < size; i++)
        want = (want ^ (unsigned char)line[i % 17]) * 1099511628211ULL;
    big_resp b;
    ck_assert_int_eq(big_exchange("/big-writer/", 0, &b), 0);
    ck_assert_msg(b.status == 200, "status %d:\n%s", b.status, b.head);
    ck_assert_uint_eq(b.len, size);
    ck_assert_msg(b.hash == want, "the 100 MiB body is not what the program wrote");
    assert_rss_bounded();
    assert_worker_has_no_children();
}
END_TEST

START_TEST(writes_before_reading_no_deadlock) {
    size_t n = 1024 * 1024;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (char)('a' + i % 26);
    http_resp r;
    ck_assert_int_eq(request("POST", "/write-then-read/", NULL, body, n, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 2 * n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(r.body[i], 0);
    ck_assert_int_eq(memcmp(r.body + n, body, n), 0);
    http_resp_free(&r);
    free(body);
}
END_TEST

START_TEST(never_reads_stdin) {
    size_t n = 4 * 1024 * 1024;
    char *body = calloc(1, n);
    http_resp r;
    long ms;
    ck_assert_int_eq(request("POST", "/no-read/", "x-fc-request-id: noread-1\r\n", body, n, &r,
                             &ms), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "ignored your body");
    assert_header(&r, "x-fc-status", "200");
    assert_success_end("noread-1");
    ck_assert_msg(ms < 8000, "took %ld ms", ms);
    http_resp_free(&r);
    free(body);
    assert_still_serves();
}
END_TEST

/* ---- failures ---- */

START_TEST(timeout_kills_group_504) {
    char hdr[256], pidfile[128];
    http_resp r;
    long ms;
    snprintf(pidfile, sizeof pidfile, "%s/hang.pid", tmp_dir);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: hang-1\r\nX-Pidfile: %s\r\n", pidfile);
    ck_assert_int_eq(request("POST", "/hang/", hdr, "x", 1, &r, &ms), 0);
    assert_function_error(&R, &r, 504, "hang-1");
    /* 2 s timeout + 2 s SIGTERM grace, with room for a slow machine. */
    ck_assert_msg(ms < 9000, "the 504 took %ld ms", ms);
    http_resp_free(&r);
    assert_in_file(R.err_path, "[hang-1] exec ");
    assert_in_file(R.err_path, "timed out after 2 s, stopped with SIGKILL");
    assert_pids_gone(pidfile, 3000);
    assert_still_serves();
}
END_TEST

START_TEST(client_gone_stops_program) {
    char req[512], pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/gone.pid", tmp_dir);
    int n = snprintf(req, sizeof req, "POST /hang-long/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: gone-1\r\nX-Pidfile: %s\r\nContent-Length: 0\r\n\r\n",
                     pidfile);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    read_pids(pidfile); /* the program runs */
    close(fd);
    /* The route's timeout is 120 s: only the hang-up can stop it this soon
     * (SIGTERM is ignored, so after the 2 s grace, SIGKILL). */
    assert_pids_gone(pidfile, 8000);
    /* Written once the program is reaped, which follows its death. */
    assert_logged("nginx closed the connection (the client went away)", 8000);
    assert_in_file(R.err_path, "[gone-1] exec ");
    assert_still_serves();
}
END_TEST

/*
 * The route's timeout bounds the whole request, writing the answer
 * included: a client that reads nothing of an endless answer fills nginx's
 * buffers and then the worker's socket, and the program is still stopped at
 * its 3 s timeout rather than when nginx's send_timeout (900 s) ends it.
 */
START_TEST(client_not_reading_is_timed_out) {
    char req[512], pidfile[128];
    snprintf(pidfile, sizeof pidfile, "%s/stream.pid", tmp_dir);
    int n = snprintf(req, sizeof req, "GET /stream-forever/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "x-fc-request-id: stall-1\r\nX-Pidfile: %s\r\n\r\n", pidfile);
    int fd = http_connect(R.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(http_send(fd, req, (size_t)n), 0);
    long t0 = now_ms();
    pids p = read_pids(pidfile);
    /* 3 s, then SIGTERM, which yes(1) obeys; the rest is a slow machine's margin. */
    int stopped = wait_process_gone(p.program, 15000);
    long ms = now_ms() - t0;
    close(fd);
    ck_assert_msg(stopped, "the program still streams %ld ms after a request with a 3 s timeout "
                  "whose client reads nothing", ms);
    /* Cut in the write to nginx, or by the timer between two writes. */
    assert_logged("stream-forever.sh: timed out after 3 s", 10000);
    assert_in_file(R.err_path, "[stall-1] exec ");
    ck_assert_int_eq(wait_for_count(R.out_path, "FC Invoke End RequestId: stall-1" FAILED_END, 1,
                                    10000), 1);
    assert_still_serves();
}
END_TEST

static const char *const stalled_params[] = {
    "REQUEST_METHOD=POST", "REQUEST_URI=/cat-short/", "CONTENT_LENGTH=100000",
    "HTTP_X_FC_REQUEST_ID=stalled-body", NULL};

/*
 * Reading the body does not stop the timers: a FastCGI client (nginx never
 * does this) sends 10 bytes of a 100000-byte body and then nothing. The
 * program (cat) waits for the rest; the route's 2 s timeout still answers
 * 504 and stops it.
 */
START_TEST(stalled_body_is_timed_out) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, stalled_params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, "0123456789", 10), 0);
    long t0 = now_ms();
    char *out = NULL;
    int rc = fcgi_read_response_timeout(fd, 1, &out, NULL, 20000);
    long ms = now_ms() - t0;
    close(fd);
    ck_assert_msg(rc == 0, "no answer %ld ms after the body stalled (2 s timeout); got '%s'", ms,
                  out);
    ck_assert_msg(strncmp(out, "Status: 504 ", 12) == 0, "answered:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nx-fc-status: 404\r\n"));
    free(out);
    assert_in_file(R.err_path, "[stalled-body] exec ");
    assert_in_file(R.err_path, "timed out after 2 s (waiting for the request body), stopped with "
                               "SIG");
    assert_in_file(R.out_path, "FC Invoke End RequestId: stalled-body" FAILED_END);
    assert_still_serves();
}
END_TEST

/*
 * A read error is not the end of the body: the FastCGI client sends part of
 * the body, then half-closes (so the worker's socket stays writable and the
 * hang-up watch sees nothing). The program must not get EOF and answer 200
 * on part of the body: it is stopped and the request fails.
 */
START_TEST(body_read_error_is_not_end_of_body) {
    static const char *const params[] = {
        "REQUEST_METHOD=POST", "REQUEST_URI=/cat-short/", "CONTENT_LENGTH=100000",
        "HTTP_X_FC_REQUEST_ID=cut-body", NULL};
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, "0123456789", 10), 0);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    char *out = NULL;
    int rc = fcgi_read_response_timeout(fd, 1, &out, NULL, 20000);
    close(fd);
    ck_assert_msg(rc == 0, "no answer; got '%s'", out);
    ck_assert_msg(strncmp(out, "Status: 404 ", 12) == 0, "a cut body was answered:\n%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\nx-fc-status: 404\r\n"));
    free(out);
    assert_in_file(R.err_path, "[cut-body] exec ");
    assert_in_file(R.err_path, "reading the request body from nginx failed");
    assert_in_file(R.out_path, "FC Invoke End RequestId: cut-body" FAILED_END);
    assert_still_serves();
}
END_TEST

START_TEST(grandchild_holding_stdout_does_not_hold_response) {
    char hdr[256], pidfile[128];
    http_resp r;
    long ms;
    snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", tmp_dir);
    snprintf(hdr, sizeof hdr, "x-fc-request-id: gc-1\r\nX-Pidfile: %s\r\n", pidfile);
    ck_assert_int_eq(request("POST", "/grandchild/", hdr, NULL, 0, &r, &ms), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "answered\n");
    assert_header(&r, "x-fc-status", "200");
    /* The route's timeout is 30 s: this is the 1 s grace after the exit. */
    ck_assert_msg(ms < 8000, "the answer took %ld ms", ms);
    http_resp_free(&r);
    assert_success_end("gc-1");
    assert_pids_gone(pidfile, 3000);
    assert_still_serves();
}
END_TEST

START_TEST(exit_nonzero_500) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/exit-nonzero/", "x-fc-request-id: exit-1\r\n", "x", 1,
                             &r, NULL), 0);
    assert_function_error(&R, &r, 500, "exit-1");
    http_resp_free(&r);
    assert_in_file(R.err_path, "[exit-1] exit-nonzero: giving up\n");
    assert_in_file(R.err_path, "exit-nonzero.sh exited with status 3 before writing a complete "
                               "header block");
    assert_still_serves();
}
END_TEST

START_TEST(death_by_signal_500) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/die-by-signal/", "x-fc-request-id: sig-1\r\n", NULL, 0,
                             &r, NULL), 0);
    assert_function_error(&R, &r, 500, "sig-1");
    http_resp_free(&r);
    assert_in_file(R.err_path, "die-by-signal.sh was killed by signal 9");
    assert_still_serves();
}
END_TEST

START_TEST(invalid_output_502) {
    static const char *cases[] = {"no-colon", "no-blank", "empty", "crlf",
                                  "bad-name", "bad-status", "too-large"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[64], hdr[64], id[32];
        http_resp r;
        snprintf(id, sizeof id, "bad-%s", cases[i]);
        snprintf(path, sizeof path, "/bad-output/?%s", cases[i]);
        snprintf(hdr, sizeof hdr, "x-fc-request-id: %s\r\n", id);
        ck_assert_int_eq(request("POST", path, hdr, NULL, 0, &r, NULL), 0);
        assert_function_error(&R, &r, 502, id);
        assert_no_header(&r, "Set-Cookie");
        assert_no_header(&r, "X-Big");
        ck_assert_ptr_null(strstr(r.body, "body"));
        http_resp_free(&r);
    }
    assert_in_file(R.err_path, "[bad-crlf] exec ");
    assert_in_file(R.err_path, "invalid CGI response, line 2: header value has a CR");
    assert_in_file(R.err_path, "[bad-no-blank] exec ");
    assert_in_file(R.err_path, "output ended before the blank line");
    assert_still_serves();
}
END_TEST

START_TEST(header_rules) {
    http_resp r;
    ck_assert_int_eq(request("GET", "/headers/?location", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 302);
    assert_header(&r, "Location", "https://example.com/next");
    http_resp_free(&r);

    ck_assert_int_eq(request("GET", "/headers/?status-418", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 418);
    ck_assert_str_eq(r.body, "teapot");
    assert_header(&r, "x-fc-status", "200"); /* its own status, exit 0: not a failure */
    http_resp_free(&r);

    ck_assert_int_eq(request("GET", "/headers/?owned", NULL, NULL, 0, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "owned");
    assert_header(&r, "X-Ok", "yes");
    assert_header(&r, "Content-Length", "5");
    assert_header(&r, "x-fc-status", "200");
    assert_no_header(&r, "X-Accel-Redirect");
    assert_no_header(&r, "Transfer-Encoding");
    http_resp_free(&r);
}
END_TEST

START_TEST(exit_nonzero_after_response) {
    http_resp r;
    /* Not sent yet when it failed: a function error, 500. */
    ck_assert_int_eq(request("GET", "/fail-after/?small", "x-fc-request-id: fa-small\r\n", NULL,
                             0, &r, NULL), 0);
    assert_function_error(&R, &r, 500, "fa-small");
    ck_assert_ptr_null(strstr(r.body, "small"));
    http_resp_free(&r);
    /* Its own error status stands, with its body. */
    ck_assert_int_eq(request("GET", "/fail-after/?503", "x-fc-request-id: fa-503\r\n", NULL, 0,
                             &r, NULL), 0);
    assert_function_error(&R, &r, 503, "fa-503");
    ck_assert_str_eq(r.body, "busy");
    http_resp_free(&r);
    /*
     * Already streamed: status and headers stand, but the client must not
     * take the answer for whole: it is cut, and FC sees the error.
     */
    http_framing f;
    ck_assert_int_eq(http_get_framing(R.port, "/fail-after/?streamed",
                                      "x-fc-request-id: fa-str\r\n", 10000, &f), 0);
    ck_assert_int_eq(f.status, 200);
    ck_assert_msg(!f.whole && f.closed, "a streamed answer whose program failed ended as whole "
                  "(%zu bytes):\n%s", f.body_len, f.head);
    http_framing_free(&f);
    ck_assert_int_eq(wait_for_count(R.out_path, "FC Invoke End RequestId: fa-str" FAILED_END, 1,
                                    10000), 1);
    assert_in_file(R.err_path, "fail-after.sh exited with status 1 after writing its response");
    assert_still_serves();
}
END_TEST

/* ---- the shell example, lifecycle hooks ---- */

START_TEST(hello_shell_example_and_failing_initializer) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/initialize", "x-fc-request-id: init-1\r\n", NULL, 0, &r,
                             NULL), 0);
    ck_assert_int_eq(r.status, 500);
    http_resp_free(&r);
    assert_in_file(R.out_path, "FC Initialize End RequestId: init-1\n");
    assert_in_file(R.err_path, "[init-1] exit-nonzero: giving up\n");

    ck_assert_int_eq(request("POST", "/invoke?x=1", "x-fc-request-id: hello-sh\r\n", "abc", 3,
                             &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "method: POST\npath: /invoke\nrequest-id: hello-sh\nbody: abc");
    assert_header(&r, "x-fc-status", "200");
    http_resp_free(&r);
    assert_in_file(R.err_path, "[hello-sh] hello.sh answered POST /invoke\n");
    assert_worker_has_no_children();
}
END_TEST

START_TEST(initializer_404_passes_through) {
    http_resp r;
    ck_assert_int_eq(request("POST", "/initialize", "x-fc-request-id: init-404\r\n", NULL, 0, &r,
                             NULL), 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "not initialised here");
    http_resp_free(&r);
    assert_in_file(R.out_path, "FC Initialize End RequestId: init-404\n");
    assert_worker_has_no_children();
}
END_TEST

static void up_shell(void) {
    static char invoke[700], init[700];
    static const char *env[] = {invoke, init, NULL};
    snprintf(invoke, sizeof invoke, "FCWORKER_INVOKE=exec:%s/handler/examples/hello.sh",
             project_dir());
    snprintf(init, sizeof init, "FCWORKER_INITIALIZE=exec:%s", exec_fixture("exit-nonzero.sh"));
    rt_start(&R, env);
}

static void up_init404(void) {
    static char init[700];
    static const char *env[] = {init, NULL};
    snprintf(init, sizeof init, "FCWORKER_INITIALIZE=exec:%s", exec_fixture("init-404.sh"));
    rt_start(&R, env);
}

static void down(void) { rt_stop(&R); }

/* ---- creation: bad specs fail at configuration load ---- */

/*
 * fcworker --check-config with FCWORKER_INVOKE=spec and no file: exit code
 * and stderr.
 */
static int check_invoke_spec(const char *spec, char **err) {
    char invoke[700], *out;
    snprintf(invoke, sizeof invoke, "FCWORKER_INVOKE=%s", spec);
    const char *const args[] = {"--check-config", NULL};
    const char *const env[] = {invoke, "FCWORKER_CONFIG=", NULL};
    int rc = fcworker_run(args, env, &out, err);
    free(out);
    return rc;
}

START_TEST(bad_program_fails_at_load) {
    char dir[] = "/tmp/fcw-exec-create-XXXXXX", file[128], spec[300], *err;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/not-executable", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\n", f);
    fclose(f);
    chmod(file, 0644);

    ck_assert_int_eq(check_invoke_spec("exec:/nonexistent/prog --flag", &err), 2);
    ck_assert_msg(strstr(err, "environment FCWORKER_INVOKE") &&
                      strstr(err, "/nonexistent/prog: No such file or directory"), "%s", err);
    free(err);

    snprintf(spec, sizeof spec, "exec:%s", file);
    ck_assert_int_eq(check_invoke_spec(spec, &err), 2);
    ck_assert_msg(strstr(err, file) && strstr(err, "is not executable (mode 0644)"), "%s", err);
    free(err);

    snprintf(spec, sizeof spec, "exec:%s", dir);
    ck_assert_int_eq(check_invoke_spec(spec, &err), 2);
    ck_assert_msg(strstr(err, "is not a regular file (a directory)"), "%s", err);
    free(err);

    ck_assert_int_eq(check_invoke_spec("exec:   ", &err), 2);
    ck_assert_msg(strstr(err, "expected exec:/path/to/program [args...]"), "%s", err);
    free(err);

    snprintf(spec, sizeof spec, "exec:%s  a\tb", exec_fixture("cat.sh"));
    ck_assert_int_eq(check_invoke_spec(spec, &err), 0);
    free(err);

    unlink(file);
    rmdir(dir);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("exec");

    TCase *tc = tcase_create("fixtures");
    tcase_add_unchecked_fixture(tc, up_main, down_main);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, hello_compiled_example);
    tcase_add_test(tc, env_visible_to_program);
    tcase_add_test(tc, arguments_and_working_directory);
    tcase_add_test(tc, only_stdio_descriptors_reach_program);
    tcase_add_test(tc, stderr_lines_logged_with_request_id);
    tcase_add_test(tc, concurrent_requests_stay_apart);
    tcase_add_test(tc, body_32mib_round_trip);
    tcase_add_test(tc, response_100mib_streams);
    tcase_add_test(tc, writes_before_reading_no_deadlock);
    tcase_add_test(tc, never_reads_stdin);
    tcase_add_test(tc, timeout_kills_group_504);
    tcase_add_test(tc, grandchild_holding_stdout_does_not_hold_response);
    tcase_add_test(tc, client_gone_stops_program);
    tcase_add_test(tc, client_not_reading_is_timed_out);
    tcase_add_test(tc, stalled_body_is_timed_out);
    tcase_add_test(tc, body_read_error_is_not_end_of_body);
    tcase_add_test(tc, exit_nonzero_500);
    tcase_add_test(tc, death_by_signal_500);
    tcase_add_test(tc, invalid_output_502);
    tcase_add_test(tc, header_rules);
    tcase_add_test(tc, exit_nonzero_after_response);
    suite_add_tcase(s, tc);

    tc = tcase_create("shell");
    tcase_add_unchecked_fixture(tc, up_shell, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hello_shell_example_and_failing_initializer);
    suite_add_tcase(s, tc);

    tc = tcase_create("init404");
    tcase_add_unchecked_fixture(tc, up_init404, down);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, initializer_404_passes_through);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_program_fails_at_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
