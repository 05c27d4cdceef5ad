/*
 * test_logs.c -- the FC log lines on the runtime's stdout: exact text, order,
 * request ids (given, generated, sanitised), whole lines under 200 concurrent
 * requests, no secrets anywhere, diagnostics only on stderr.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* What the worker says once a SIGHUP's reload is done. */
#define RELOADED "fcworker: info: configuration reloaded"

static rt R;

static void up(void) {
    static const char *const env[] = {"FC_FUNCTION_NAME=logs-fn", NULL};
    rt_start(&R, env);
}
static void down(void) { rt_stop(&R); }

static http_resp send_with_headers(const char *method, const char *path, const char *headers) {
    http_resp r;
    ck_assert_msg(http_do(R.port, method, path, headers, NULL, 0, &r) == 0, "%s %s: no response",
                  method, path);
    return r;
}

/* Asserts status and frees. */
static void expect_status(http_resp r, int status, const char *what) {
    ck_assert_msg(r.status == status, "%s: status %d, expected %d\n%s", what, r.status, status,
                  r.head);
    http_resp_free(&r);
}

/* Every line of out is a well-formed FC line; returns how many there are. */
static int expect_only_fc_lines(const char *out) {
    int n = 0;
    for (const char *p = out; *p; n++) {
        const char *nl = strchr(p, '\n');
        ck_assert_msg(nl != NULL, "stdout ends in an unterminated line: '%s'", p);
        char line[1024];
        size_t len = (size_t)(nl - p);
        ck_assert_msg(len < sizeof line, "stdout line %d is %zu bytes long", n + 1, len);
        memcpy(line, p, len);
        line[len] = '\0';
        ck_assert_msg(matches("^FC (Initialize|Invoke|PreStop|PreFreeze) (Start|End) "
                              "RequestId: [!-~]+(, Error: Unhandled function error)?$",
                              line, 0),
                      "stdout line %d is not an FC line: '%s'", n + 1, line);
        p = nl + 1;
    }
    return n;
}

START_TEST(exact_lines_in_order_for_every_route) {
    expect_status(send_with_headers("POST", "/initialize", "x-fc-request-id: id-init\r\n"), 200,
                  "initialize");
    expect_status(send_with_headers("POST", "/invoke",
                                    "x-fc-request-id: 1-667b840c-15c49df0-b7dc1\r\n"
                                    "x-fc-control-path: /invoke\r\n"),
                  200, "invoke");
    expect_status(send_with_headers("GET", "/pre-freeze", "x-fc-request-id: id-freeze\r\n"), 200,
                  "pre-freeze");
    expect_status(send_with_headers("GET", "/web/page?x=1", "x-fc-request-id: id-web\r\n"), 200,
                  "web invoke");
    expect_status(send_with_headers("GET", "/pre-stop", "x-fc-request-id: id-stop\r\n"), 200,
                  "pre-stop");
    char *out = slurp(R.out_path);
    ck_assert_str_eq(out, "FC Initialize Start RequestId: id-init\n"
                          "FC Initialize End RequestId: id-init\n"
                          "FC Invoke Start RequestId: 1-667b840c-15c49df0-b7dc1\n"
                          "FC Invoke End RequestId: 1-667b840c-15c49df0-b7dc1\n"
                          "FC PreFreeze Start RequestId: id-freeze\n"
                          "FC PreFreeze End RequestId: id-freeze\n"
                          "FC Invoke Start RequestId: id-web\n"
                          "FC Invoke End RequestId: id-web\n"
                          "FC PreStop Start RequestId: id-stop\n"
                          "FC PreStop End RequestId: id-stop\n");
    free(out);
}
END_TEST

#define UUID_RE "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

/* Reads the id of the only Start line in out, and checks the End line carries it. */
static void generated_id(const char *out, const char *kind, char *id) {
    char fmt[128], end[256];
    snprintf(fmt, sizeof fmt, "FC %s Start RequestId: %%63s", kind);
    ck_assert_msg(sscanf(out, fmt, id) == 1, "no %s Start line in:\n%s", kind, out);
    ck_assert_msg(matches("^" UUID_RE "$", id, 0), "generated id '%s' is not UUID-shaped", id);
    snprintf(end, sizeof end, "\nFC %s End RequestId: %s\n", kind, id);
    ck_assert_msg(strstr(out, end) != NULL, "End line with the id %s missing:\n%s", id, out);
}

START_TEST(missing_or_empty_id_is_generated) {
    char a[64], b[64], c[64];
    expect_status(send_with_headers("GET", "/no-id", NULL), 200, "no id");
    char *out = slurp(R.out_path);
    ck_assert_int_eq(expect_only_fc_lines(out), 2);
    generated_id(out, "Invoke", a);
    free(out);

    ck_assert_int_eq(truncate(R.out_path, 0), 0);
    expect_status(send_with_headers("GET", "/pre-stop", "x-fc-request-id: \r\n"), 200, "empty id");
    out = slurp(R.out_path);
    ck_assert_int_eq(expect_only_fc_lines(out), 2);
    generated_id(out, "PreStop", b);
    free(out);

    ck_assert_int_eq(truncate(R.out_path, 0), 0);
    expect_status(send_with_headers("POST", "/initialize", NULL), 200, "initialize, no id");
    out = slurp(R.out_path);
    generated_id(out, "Initialize", c);
    free(out);
    ck_assert_msg(strcmp(a, b) != 0 && strcmp(b, c) != 0 && strcmp(a, c) != 0,
                  "generated ids repeat: %s %s %s", a, b, c);
}
END_TEST

/*
 * Spaces, control bytes, DEL and non-ASCII become '_': one line per event
 * whatever the client sends, and no forged line.
 */
START_TEST(hostile_id_is_sanitised) {
    expect_status(send_with_headers("GET", "/x",
                                    "x-fc-request-id: evil id\x01\x7f\tFC Invoke End "
                                    "RequestId: forged \xc3\xa9\r\n"),
                  200, "hostile id");
    char *out = slurp(R.out_path);
    const char *id = "evil_id___FC_Invoke_End_RequestId:_forged___";
    char want[512];
    snprintf(want, sizeof want, "FC Invoke Start RequestId: %s\nFC Invoke End RequestId: %s\n", id,
             id);
    ck_assert_msg(strcmp(out, want) == 0, "stdout:\n%s\nexpected:\n%s", out, want);
    free(out);
}
END_TEST

/*
 * nginx never passes a newline in a header, but a FastCGI client can: the
 * worker must still write exactly two lines.
 */
START_TEST(newline_in_id_from_raw_fastcgi_cannot_split_a_line) {
    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    const char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/raw",
                            "HTTP_X_FC_REQUEST_ID=a\nFC Invoke End RequestId: b\r\nc", NULL};
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
    char *resp;
    ck_assert_int_eq(fcgi_read_response(fd, 1, &resp, NULL), 0);
    close(fd);
    ck_assert_msg(strstr(resp, "Hello, World!") != NULL, "response:\n%s", resp);
    free(resp);
    char *out = slurp(R.out_path);
    ck_assert_str_eq(out, "FC Invoke Start RequestId: a_FC_Invoke_End_RequestId:_b__c\n"
                          "FC Invoke End RequestId: a_FC_Invoke_End_RequestId:_b__c\n");
    free(out);
}
END_TEST

/* A 4000-byte id is cut to 128 bytes, and the line stays whole. */
START_TEST(long_id_is_cut) {
    char headers[4200], id[4001];
    memset(id, 'k', 4000);
    id[4000] = '\0';
    snprintf(headers, sizeof headers, "x-fc-request-id: %s\r\n", id);
    expect_status(send_with_headers("GET", "/long", headers), 200, "long id");
    char *out = slurp(R.out_path);
    char want[512];
    snprintf(want, sizeof want, "FC Invoke Start RequestId: %.128s\nFC Invoke End RequestId: %.128s\n",
             id, id);
    ck_assert_str_eq(out, want);
    free(out);
}
END_TEST

/* --- 200 concurrent requests ------------------------------------------ */

#define NCLIENTS 200
#define MAX_PER_CONN 3

typedef struct client {
    int index, per_conn, keepalive;
    int status[MAX_PER_CONN];
    int ok;
} client;

static pthread_barrier_t start_line;

static void *client_thread(void *arg) {
    client *c = arg;
    pthread_barrier_wait(&start_line);
    int fd = http_connect(R.port);
    if (fd < 0) return NULL;
    for (int k = 0; k < c->per_conn; k++) {
        char req[256];
        int n = snprintf(req, sizeof req,
                         "GET /c?i=%d HTTP/1.1\r\nHost: 127.0.0.1\r\nx-fc-request-id: "
                         "c-%d-%d-x\r\n%s\r\n",
                         c->index, c->index, k, c->keepalive ? "" : "Connection: close\r\n");
        http_resp r;
        if (http_send(fd, req, (size_t)n) != 0 || http_read(fd, &r, 0) != 0) break;
        c->status[k] = r.status;
        if (r.status == 200 && strcmp(r.body, "Hello, World!") == 0) c->ok++;
        http_resp_free(&r);
    }
    close(fd);
    return NULL;
}

/*
 * NCLIENTS threads start together, each on its own connection making
 * per_conn requests. Every answer is 200 and stdout holds exactly one Start
 * and one End line per request, each whole, Start first.
 */
static void concurrent(int per_conn, int keepalive) {
    static client clients[NCLIENTS];
    pthread_t th[NCLIENTS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_barrier_init(&start_line, NULL, NCLIENTS);
    for (int i = 0; i < NCLIENTS; i++) {
        clients[i] = (client){.index = i, .per_conn = per_conn, .keepalive = keepalive};
        ck_assert_int_eq(pthread_create(&th[i], &attr, client_thread, &clients[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start_line);
    pthread_attr_destroy(&attr);
    for (int i = 0; i < NCLIENTS; i++)
        ck_assert_msg(clients[i].ok == per_conn, "client %d: %d of %d answered 200 Hello "
                      "(statuses %d %d %d)", i, clients[i].ok, per_conn, clients[i].status[0],
                      clients[i].status[1], clients[i].status[2]);

    static int start_at[NCLIENTS][MAX_PER_CONN], end_at[NCLIENTS][MAX_PER_CONN];
    memset(start_at, 0, sizeof start_at);
    memset(end_at, 0, sizeof end_at);
    char *out = slurp(R.out_path);
    int lines = expect_only_fc_lines(out);
    ck_assert_int_eq(lines, 2 * NCLIENTS * per_conn);
    int n = 1;
    for (char *p = out; *p; n++) {
        char *nl = strchr(p, '\n');
        char kind[8];
        int i, k, used = 0;
        *nl = '\0';
        ck_assert_msg(sscanf(p, "FC Invoke %7s RequestId: c-%d-%d-x%n", kind, &i, &k, &used) == 3 &&
                          p[used] == '\0' && i >= 0 && i < NCLIENTS && k >= 0 && k < per_conn,
                      "line %d is not one of this test's requests: '%s'", n, p);
        int *slot = strcmp(kind, "Start") == 0 ? &start_at[i][k] : &end_at[i][k];
        ck_assert_msg(strcmp(kind, "Start") == 0 || strcmp(kind, "End") == 0, "line %d: '%s'", n, p);
        ck_assert_msg(*slot == 0, "line %d repeats line %d: '%s'", n, *slot, p);
        *slot = n;
        p = nl + 1;
    }
    for (int i = 0; i < NCLIENTS; i++)
        for (int k = 0; k < per_conn; k++)
            ck_assert_msg(start_at[i][k] > 0 && end_at[i][k] > start_at[i][k],
                          "c-%d-%d-x: Start at line %d, End at line %d", i, k, start_at[i][k],
                          end_at[i][k]);
    free(out);
}

START_TEST(concurrent_200_without_keepalive) { concurrent(1, 0); }
END_TEST

START_TEST(concurrent_200_with_keepalive) { concurrent(MAX_PER_CONN, 1); }
END_TEST

/* --- secrets and diagnostics ------------------------------------------ */

static char secret[64], token[64], env_secret[64], env_token[64];
static char env_secret_kv[128], env_token_kv[128];

static void up_secrets(void) {
    unsigned salt = (unsigned)getpid() * 2654435761u;
    snprintf(secret, sizeof secret, "HdrSecret%08xZq", salt);
    snprintf(token, sizeof token, "HdrToken%08xZq", salt);
    snprintf(env_secret, sizeof env_secret, "EnvSecret%08xZq", salt);
    snprintf(env_token, sizeof env_token, "EnvToken%08xZq", salt);
    snprintf(env_secret_kv, sizeof env_secret_kv, "ALIBABA_CLOUD_ACCESS_KEY_SECRET=%s", env_secret);
    snprintf(env_token_kv, sizeof env_token_kv, "ALIBABA_CLOUD_SECURITY_TOKEN=%s", env_token);
    const char *const env[] = {"FC_FUNCTION_NAME=logs-fn", "FCWORKER_INVOKE=builtin:echo",
                               env_secret_kv, env_token_kv, NULL};
    rt_start(&R, env);
}

static void expect_absent(const char *hay, const char *where) {
    const char *planted[] = {secret, token, env_secret, env_token};
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(strstr(hay, planted[i]) == NULL, "%s contains the secret %s:\n%s", where,
                      planted[i], hay);
}

/*
 * Credentials in headers and in the worker's environment never reach stdout
 * or stderr, whatever path the request takes (ok, echo, 405, 400, reload,
 * stop). The echo answer redacts them too.
 */
START_TEST(secrets_never_logged) {
    char headers[512];
    snprintf(headers, sizeof headers,
             "x-fc-request-id: sec-1\r\nx-fc-access-key-id: LTAIexample\r\n"
             "x-fc-access-key-secret: %s\r\nx-fc-security-token: %s\r\n",
             secret, token);
    http_resp r = send_with_headers("POST", "/invoke", headers);
    ck_assert_int_eq(r.status, 200);
    expect_absent(r.body, "the echo answer");
    ck_assert_msg(strstr(r.body, "x-fc-access-key-secret: [redacted]\n") != NULL,
                  "echo answer:\n%s", r.body);
    http_resp_free(&r);
    expect_status(send_with_headers("POST", "/initialize", headers), 200, "initialize");
    expect_status(send_with_headers("GET", "/initialize", headers), 405, "GET /initialize");
    expect_status(send_with_headers("GET", "/pre-stop", headers), 200, "pre-stop");

    int fd = fcgi_connect(R.socket);
    ck_assert_int_ge(fd, 0);
    char h1[128], h2[128];
    snprintf(h1, sizeof h1, "HTTP_X_FC_ACCESS_KEY_SECRET=%s", secret);
    snprintf(h2, sizeof h2, "HTTP_X_FC_SECURITY_TOKEN=%s", token);
    const char *params[] = {h1, h2, NULL};
    char *resp;
    ck_assert_int_eq(fcgi_begin(fd, 1, 0), 0);
    ck_assert_int_eq(fcgi_params(fd, 1, params), 0);
    ck_assert_int_eq(fcgi_stdin(fd, 1, NULL, 0), 0);
    ck_assert_int_eq(fcgi_read_response(fd, 1, &resp, NULL), 0);
    ck_assert_msg(strncmp(resp, "Status: 400", 11) == 0, "no-method request answered:\n%s", resp);
    free(resp);
    close(fd);

    kill(rt_worker_pid(&R), SIGHUP);
    ck_assert_msg(wait_for_count(R.err_path, RELOADED, 1, 10000) >= 1, "no reload after SIGHUP");
    ck_assert_int_eq(rt_stop_sig(&R, SIGTERM, 15000), 0);
    char *out = slurp(R.out_path), *err = slurp(R.err_path);
    expect_absent(out, "stdout");
    expect_absent(err, "stderr");
    ck_assert_msg(strstr(err, "SIGTERM received") != NULL, "the stop left no trace:\n%s", err);
    free(out);
    free(err);
}
END_TEST

/*
 * builtin:echo shows a request's headers, but not the credentials a caller
 * sends with it: Authorization, Proxy-Authorization and Cookie are redacted
 * like FC's own secrets, whatever their case.
 */
START_TEST(echo_redacts_credential_headers) {
    char headers[512];
    snprintf(headers, sizeof headers,
             "x-fc-request-id: sec-2\r\nAuthorization: Bearer %s\r\n"
             "proxy-authorization: Basic %s\r\nCookie: session=%s\r\nX-Plain: shown\r\n",
             secret, token, env_secret);
    http_resp r = send_with_headers("POST", "/invoke", headers);
    ck_assert_int_eq(r.status, 200);
    expect_absent(r.body, "the echo answer");
    static const char *const redacted[] = {"authorization: [redacted]\n",
                                           "proxy-authorization: [redacted]\n",
                                           "cookie: [redacted]\n", "x-plain: shown\n"};
    for (size_t i = 0; i < sizeof redacted / sizeof redacted[0]; i++)
        ck_assert_msg(strstr(r.body, redacted[i]) != NULL, "no '%.*s' in the echo answer:\n%s",
                      (int)strlen(redacted[i]) - 1, redacted[i], r.body);
    http_resp_free(&r);
}
END_TEST

/*
 * stdout is FC's: the worker's start-up, reload and stop messages go to
 * stderr, and stdout holds nothing but well-formed FC lines.
 */
START_TEST(diagnostics_go_to_stderr) {
    expect_status(send_with_headers("GET", "/x", "x-fc-request-id: d-1\r\n"), 200, "invoke");
    expect_status(send_with_headers("PUT", "/pre-freeze", "x-fc-request-id: d-2\r\n"), 405,
                  "PUT /pre-freeze");
    kill(rt_worker_pid(&R), SIGHUP);
    ck_assert_msg(wait_for_count(R.err_path, RELOADED, 1, 10000) >= 1, "no reload after SIGHUP");
    expect_status(send_with_headers("GET", "/y", "x-fc-request-id: d-3\r\n"), 200, "invoke");
    ck_assert_int_eq(rt_stop_sig(&R, SIGTERM, 15000), 0);
    char *out = slurp(R.out_path), *err = slurp(R.err_path);
    ck_assert_int_eq(expect_only_fc_lines(out), 4);
    ck_assert_msg(strstr(err, "fcworker: info: listening on ") != NULL, "stderr:\n%s", err);
    ck_assert_msg(strstr(err, "fcworker: info: SIGTERM received") != NULL, "stderr:\n%s", err);
    ck_assert_msg(strstr(err, RELOADED) != NULL, "stderr:\n%s", err);
    ck_assert_msg(strstr(out, "fcworker") == NULL, "stdout:\n%s", out);
    free(out);
    free(err);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("logs");
    TCase *tc = tcase_create("lines");
    tcase_add_checked_fixture(tc, up, down);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, exact_lines_in_order_for_every_route);
    tcase_add_test(tc, missing_or_empty_id_is_generated);
    tcase_add_test(tc, hostile_id_is_sanitised);
    tcase_add_test(tc, newline_in_id_from_raw_fastcgi_cannot_split_a_line);
    tcase_add_test(tc, long_id_is_cut);
    tcase_add_test(tc, concurrent_200_without_keepalive);
    tcase_add_test(tc, concurrent_200_with_keepalive);
    tcase_add_test(tc, diagnostics_go_to_stderr);
    suite_add_tcase(s, tc);

    TCase *sec = tcase_create("secrets");
    tcase_add_checked_fixture(sec, up_secrets, down);
    tcase_set_timeout(sec, 30);
    tcase_add_test(sec, secrets_never_logged);
    tcase_add_test(sec, echo_redacts_credential_headers);
    suite_add_tcase(s, sec);
    return s;
}

int main(void) { return run_suite(suite()); }
