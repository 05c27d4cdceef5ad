#!/bin/bash
# test-fc-local.sh -- scripts/fc-local against the real runtime (scripts/run, nginx and
# build/fcworker on a free 127.0.0.1 port), no docker. Run by `make test-fc-local`.
#
# Checks the headers fc-local sends (as the worker sees them, through builtin:echo),
# that the dummy credentials are never printed, FC's order for `lifecycle`, and that
# the exit status is non-zero exactly when FC would count the call failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/t/container/lib.sh"
fc_local=$top/scripts/fc-local
export FCWORKER_BIN=${FCWORKER_BIN:-$top/build/fcworker}
[[ -x $FCWORKER_BIN ]] || { echo "test-fc-local: $FCWORKER_BIN is not built: run 'make'" >&2; exit 1; }

work=$(mktemp -d /tmp/fcw-fc-local.XXXXXX)
chmod 0755 "$work"   # nginx's workers (www-data when run as root) reach the socket below
pids=()
cleanup() {
    local p i
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$p" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME [VAR=value...]: scripts/run in its own session; sets port and dir.
start() {
    local name=$1 attempt
    shift
    dir=$work/$name
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=$(free_port) || return 1
        env FCWORKER_RUN_DIR="$dir/run" PORT="$port" FC_FUNCTION_NAME=fc-local-test "$@" \
            setsid "$top/scripts/run" >"$dir/out" 2>"$dir/err" &
        pids+=($!)
        wait_for 10 tcp_up "$port" && return 0
        kill -TERM "$!" 2>/dev/null
        wait "$!" 2>/dev/null
    done
    echo "test-fc-local: runtime '$name' did not come up:" >&2
    cat "$dir/err" >&2
    return 1
}

fx=$top/t/fixtures/exec
start echo FCWORKER_INVOKE=builtin:echo || exit 1
url=http://127.0.0.1:$port
echo_out=$dir/out

# initialize: every common header arrives, credentials are masked in what is printed.
out=$("$fc_local" -u "$url" initialize 2>&1); rc=$?
check_eq "initialize exits 0" 0 "$rc"
check_has "initialize prints the status line" "< HTTP/1.1 200 OK" "$out"
check_has "initialize prints the body" $'\nOK\n' "$out"
check_has "initialize prints the timing" "time: " "$out"
check_has "initialize masks the secret" "> x-fc-access-key-secret: ****" "$out"
check_has "initialize masks the token" "> x-fc-security-token: ****" "$out"
check_lacks "initialize never prints the dummy secret" "dummy-secret" "$out"
check_lacks "initialize never prints the dummy token" "dummy-security-token" "$out"
id=$(sed -n 's/^> x-fc-request-id: //p' <<<"$out")
[[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] &&
    ok "hook request id is a UUID" || not_ok "hook request id is a UUID" "got '$id'"
check_has "worker logged the initialize with that id" "FC Initialize Start RequestId: $id" "$(cat "$echo_out")"

# invoke: the event reaches the handler byte for byte, with FC's content type and headers.
printf '{"event": 1}' >"$work/event.json"
out=$("$fc_local" -u "$url" invoke "$work/event.json" 2>&1); rc=$?
check_eq "invoke FILE exits 0" 0 "$rc"
check_has "invoke is POST /invoke" "POST /invoke"$'\n' "$out"
check_has "invoke sends octet-stream" "content-type: application/octet-stream" "$out"
check_has "invoke sends the control path" "x-fc-control-path: /invoke" "$out"
for h in x-fc-access-key-id x-fc-function-name x-fc-function-handler x-fc-function-memory \
    x-fc-function-timeout x-fc-function-initializer x-fc-initialization-timeout x-fc-region \
    x-fc-account-id x-fc-qualifier x-fc-version-id; do
    check_has "invoke sends $h" "$h: " "$(sed -n '/^< /,$p' <<<"$out")"
done
check_has "the handler saw the secret header (redacted by echo)" "x-fc-access-key-secret: [redacted]" "$out"
check_has "invoke body arrives" '{"event": 1}' "$out"
check_has "invoke answer carries x-fc-status" "< x-fc-status: 200" "$out"
id=$(sed -n 's/^> x-fc-request-id: //p' <<<"$out")
[[ $id =~ ^1-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{12}$ ]] &&
    ok "invoke request id has FC's form" || not_ok "invoke request id has FC's form" "got '$id'"

out=$(printf 'from stdin' | "$fc_local" -u "$url" -q invoke - 2>&1); rc=$?
check_eq "invoke - exits 0" 0 "$rc"
check_has "invoke - sends stdin" $'\n\nfrom stdin' "$out"
check_lacks "-q prints no request headers" "> x-fc" "$out"

# http: method, path, query, extra headers and body as given; control path /http-invoke.
out=$("$fc_local" -u "$url" -q http put '/api/items?id=7' -H 'X-Demo: yes' -d 'payload' 2>&1); rc=$?
check_eq "http exits 0" 0 "$rc"
check_has "http sends method, path and query" "PUT /api/items?id=7" "$out"
check_has "http sends extra headers" "x-demo: yes" "$out"
check_has "http sends the http-invoke control path" "x-fc-control-path: /http-invoke" "$out"
check_has "http sends the body" $'\npayload' "$out"
check_eq "http PATH must be absolute" 2 "$("$fc_local" -u "$url" http GET nope >/dev/null 2>&1; echo $?)"

out=$("$fc_local" -u "$url" pre-stop 2>&1); rc=$?
check_eq "pre-stop exits 0" 0 "$rc"
check_has "pre-stop is GET /pre-stop" "> GET $url/pre-stop" "$out"
out=$("$fc_local" -u "$url" pre-freeze 2>&1); rc=$?
check_eq "pre-freeze exits 0" 0 "$rc"
check_has "pre-freeze logged" "FC PreFreeze Start RequestId:" "$(cat "$echo_out")"

# lifecycle: initialize, invoke (same request id, as FC 2.0 does), pre-stop, in order.
: >"$work/before"; cp "$echo_out" "$work/before"
out=$(printf 'ev' | "$fc_local" -u "$url" lifecycle - 2>&1); rc=$?
check_eq "lifecycle exits 0" 0 "$rc"
new=$(diff "$work/before" "$echo_out" | sed -n 's/^> //p' | sed -E 's/ RequestId: .*//')
check_eq "lifecycle calls in FC's order" \
    "FC Initialize Start|FC Initialize End|FC Invoke Start|FC Invoke End|FC PreStop Start|FC PreStop End" \
    "$(paste -sd'|' <<<"$new")"
ids=$(diff "$work/before" "$echo_out" | sed -n 's/^> FC \(Initialize\|Invoke\) Start RequestId: //p' | sort -u | wc -l)
check_eq "lifecycle reuses the initializer's request id for the invoke" 1 "$ids"
check_lacks "worker log never holds the dummy secret" "dummy-secret" "$(cat "$echo_out" "$dir/err")"
check_lacks "worker log never holds the dummy token" "dummy-security-token" "$(cat "$echo_out" "$dir/err")"

# What FC counts as failed: non-2xx hook, invoke answering 404 + x-fc-status: 404.
start failing FCWORKER_INITIALIZE="exec:$fx/init-404.sh" FCWORKER_INVOKE="exec:$fx/exit-nonzero.sh" || exit 1
url=http://127.0.0.1:$port
out=$("$fc_local" -u "$url" initialize 2>&1); rc=$?
check_eq "initialize answering 404 exits 1" 1 "$rc"
check_has "the failure is explained" "FC counts this call as failed (status 404)" "$out"
out=$("$fc_local" -u "$url" invoke 2>&1); rc=$?
check_eq "failing invoke exits 1" 1 "$rc"
check_has "failing invoke shows x-fc-status 404" "x-fc-status 404" "$out"
out=$("$fc_local" -u "$url" -q http GET / 2>&1); rc=$?
check_eq "failing http invoke (x-fc-status 404) exits 1" 1 "$rc"
cp "$dir/out" "$work/before"
out=$("$fc_local" -u "$url" lifecycle 2>&1); rc=$?
check_eq "lifecycle with a failing initializer exits 1" 1 "$rc"
check_lacks "no invoke after a failed initialize" "FC Invoke Start" "$(diff "$work/before" "$dir/out")"

start http404 FCWORKER_INVOKE="exec:$fx/init-404.sh" || exit 1
out=$("$fc_local" -u "http://127.0.0.1:$port" -q http GET /missing 2>&1); rc=$?
check_eq "http answer 404 with x-fc-status 200 is the function's answer: exit 0" 0 "$rc"
out=$("$fc_local" -u "http://127.0.0.1:$port" invoke 2>&1); rc=$?
check_eq "event invoke answering 404 exits 1" 1 "$rc"

# -q lifecycle: the three bodies, each on a line of its own.
start hello || exit 1
out=$("$fc_local" -u "http://127.0.0.1:$port" -q lifecycle 2>&1); rc=$?
check_eq "-q lifecycle exits 0" 0 "$rc"
check_eq "-q lifecycle prints one body per line" $'OK\nHello, World!\nOK' "$out"

# Unreachable runtime and usage errors.
dead=$(free_port)
"$fc_local" -u "http://127.0.0.1:$dead" -t 5 initialize >/dev/null 2>&1; rc=$?
check_eq "unreachable runtime exits 3" 3 "$rc"
"$fc_local" bogus >/dev/null 2>&1; rc=$?
check_eq "unknown command exits 2" 2 "$rc"
"$fc_local" -u "$url" invoke "$work/no-such-file" >/dev/null 2>&1; rc=$?
check_eq "missing event file exits 2" 2 "$rc"

summary test-fc-local
