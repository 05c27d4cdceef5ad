#!/bin/bash
# test-image.sh IMAGE -- the built image, run the way FC and Kubernetes run it.
# Needs a docker daemon; scripts/test-container (make test-container) provides one,
# builds the image and calls this.
#
# Every container runs with --network host (this machine has no bridge) on a free port,
# never 9000, and is removed at the end. Checks: the seed's answers, fc-local's
# lifecycle, handlers swapped by environment / mounted config / mounted program,
# non-root processes, a read-only root filesystem, the worker adopting and reaping orphans, `docker stop`
# letting in-flight requests finish with exit code 0, a dead worker ending the
# container with a non-zero code, and the image docker/python/Dockerfile derives from
# IMAGE (built here, tagged PYTHON_IMAGE, default fcworker-python:test) running FC's
# seed Flask app as [app], alone and in docker-compose.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/t/container/lib.sh"
IMAGE=${1:?usage: test-image.sh IMAGE}
PYTHON_IMAGE=${PYTHON_IMAGE:-fcworker-python:test}
fx=$top/t/container/fixtures
fc_local=$top/scripts/fc-local
prefix=fcw-test-$$
containers=()

cleanup() { ((${#containers[@]})) && docker rm -f "${containers[@]}" >/dev/null 2>&1; return 0; }
trap cleanup EXIT

# start NAME [docker run args...]: a detached container on a free port; sets c and port.
# The image is IMAGE, or run_image when set (`run_image=X start NAME ...`).
start() {
    c=$prefix-$1
    shift
    port=$(free_port) || { echo "no free port" >&2; return 1; }
    containers+=("$c")
    docker run -d --name "$c" --network host -e PORT="$port" --stop-timeout 40 "$@" "${run_image:-$IMAGE}" >/dev/null ||
        return 1
    wait_for 20 tcp_up "$port" || { echo "container $c did not answer on $port:" >&2; docker logs "$c" >&2; return 1; }
}
state() { docker inspect -f "{{.State.$2}}" "$1" 2>/dev/null; }
# Processes in the container: "pid uid state name" per line, from /proc (no ps in the image).
procs() {
    docker exec "$1" sh -c 'for s in /proc/[0-9]*/status; do
        awk "/^Name:/{n=\$2} /^State:/{st=\$2} /^Pid:/{p=\$2} /^Uid:/{u=\$2} END{print p, u, st, n}" "$s" 2>/dev/null
    done'
}

echo "== image $IMAGE"
check_eq "image runs as uid 10001" "10001:10001" "$(docker image inspect -f '{{.Config.User}}' "$IMAGE")"
check_eq "image's PID 1 is tini" "[/usr/bin/tini --]" "$(docker image inspect -f '{{.Config.Entrypoint}}' "$IMAGE")"
check_eq "image stops with SIGTERM" "SIGTERM" "$(docker image inspect -f '{{.Config.StopSignal}}' "$IMAGE")"
check_has "image exposes 9000" "9000/tcp" "$(docker image inspect -f '{{.Config.ExposedPorts}}' "$IMAGE")"
out=$(docker run --rm --network host --entrypoint sh "$IMAGE" -c \
    'command -v cc gcc make; ls /var/lib/apt/lists | grep -v -e ^lock$ -e ^partial$ -e ^auxfiles$; true')
check_eq "no compilers, make or apt lists in the image" "" "$out"

echo "== default handlers (seed answers), cold start"
t0=$(date +%s%N)
c=$prefix-default; port=$(free_port); containers+=("$c")
docker run -d --name "$c" --network host -e PORT="$port" -e FC_FUNCTION_NAME=demo \
    --stop-timeout 40 "$IMAGE" >/dev/null
for ((i = 0; i < 400; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$port/invoke" 2>/dev/null) == 200 ]] && break
    sleep 0.05
done
cold_ms=$((($(date +%s%N) - t0) / 1000000))
echo "   cold start, docker run to first 200: ${cold_ms} ms"
out=$(curl -s -i --max-time 5 -X POST "http://127.0.0.1:$port/invoke" -H 'x-fc-request-id: img-1' --data-binary 'ev')
check_has "invoke answers 200" "HTTP/1.1 200" "$out"
check_has "invoke answers Hello, World!" $'\r\n\r\nHello, World!' "$out"
check_has "Function-Name header" "Function-Name: demo" "$out"
check_has "x-fc-status: 200" "x-fc-status: 200" "$out"
out=$(curl -s -i --max-time 5 "http://127.0.0.1:$port/any/path?x=1" -H 'x-fc-control-path: /http-invoke')
check_has "HTTP invoke on any path answers the seed" "Hello, World!" "$out"
out=$("$fc_local" -u "http://127.0.0.1:$port" lifecycle 2>&1); rc=$?
check_eq "fc-local lifecycle passes against the container" 0 "$rc"
logs=$(docker logs "$c" 2>&1)
check_has "FC log lines on the container's stdout" "FC Invoke End RequestId: img-1" "$logs"
check_has "lifecycle logged initialize" "FC Initialize Start RequestId:" "$logs"
check_has "lifecycle logged pre-stop" "FC PreStop End RequestId:" "$logs"
check_lacks "no nginx alert or error at start-up" "[alert]" "$logs"
check_lacks "no nginx emerg" "[emerg]" "$logs"
check_lacks "no permission problem" "Permission denied" "$logs"
check_lacks "the dummy secret never reaches the log" "dummy-secret" "$logs"
check_eq "PID 1 is tini" "tini" "$(docker exec "$c" cat /proc/1/comm)"
ps_out=$(procs "$c")
echo "$ps_out" | sed 's/^/   pid uid state: /'
check_has "fcworker runs" " fcworker" "$ps_out"
check_eq "nginx master and worker run" 2 "$(grep -c ' nginx$' <<<"$ps_out")"
check_eq "no process runs as root" "" "$(awk '$2 == 0' <<<"$ps_out")"
check_eq "fcworker and nginx run as uid 10001" 3 "$(awk '$2 == 10001 && ($4 == "fcworker" || $4 == "nginx")' <<<"$ps_out" | wc -l)"
check_eq "the launcher is fcworker-run, and no shell runs" "1 0" \
    "$(awk '$4 == "fcworker-run" { n++ } $4 == "bash" { b++ } END { print n + 0, b + 0 }' <<<"$ps_out")"

echo "== health path and the image's HEALTHCHECK"
check_has "HEALTHCHECK runs fcworker-healthcheck" "/usr/local/bin/fcworker-healthcheck" \
    "$(docker image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")"
out=$(curl -s -i --max-time 5 "http://127.0.0.1:$port/_fcworker/health" -H 'x-fc-request-id: img-health')
check_has "health path answers 200" "HTTP/1.1 200" "$out"
check_has "health path answers the worker's JSON" '{"state":"ready","initialized":true' "$out"
out=$(docker exec "$c" /usr/local/bin/fcworker-healthcheck); rc=$?
check_eq "fcworker-healthcheck passes in the container (bash /dev/tcp, no curl)" 0 "$rc"
check_has "fcworker-healthcheck says what it saw" '"state":"ready"' "$out"
healthy() { [[ $(state "$c" Health.Status) == healthy ]]; }
wait_for 30 healthy
check "docker reports the container healthy" healthy
check_lacks "no FC line for the health check" "img-health" "$(docker logs "$c" 2>&1)"

echo "== metrics listener"
mport=$(free_port)
start metrics --read-only --tmpfs /tmp -e FCWORKER_METRICS_LISTEN=127.0.0.1:$mport || exit 1
curl -s -o /dev/null --max-time 5 -X POST "http://127.0.0.1:$port/invoke"
out=$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics")
check_has "metrics on their own port" 'fcworker_requests_total{route="invoke",code="2xx"} 1' "$out"
check_lacks "the function's port does not serve them" "fcworker_requests_total" \
    "$(curl -s --max-time 5 "http://127.0.0.1:$port/metrics")"

echo "== read-only root filesystem, handler swapped by environment"
start env --read-only --tmpfs /tmp -e FCWORKER_INVOKE=builtin:echo || exit 1
out=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$port/invoke" --data-binary 'ping-body')
check_has "FCWORKER_INVOKE=builtin:echo answers with the request" "POST /invoke" "$out"
check_has "echo returns the body" "ping-body" "$out"
docker exec "$c" sh -c 'touch /etc/fcworker/x' 2>/dev/null; rc=$?
check "root filesystem is read-only" test "$rc" -ne 0
check_lacks "no start-up complaint on a read-only root" "[alert]" "$(docker logs "$c" 2>&1)"

echo "== handler swapped by a mounted configuration"
start conf --read-only --tmpfs /tmp -v "$fx/swap.conf:/etc/fcworker/fcworker.conf:ro" || exit 1
out=$(curl -s -i --max-time 5 "http://127.0.0.1:$port/count")
check_has "mounted config: plugin-counter answers /count" "count=" "$out"
out=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$port/sh/x" --data-binary 'hi')
check_has "mounted config: [route /sh/] runs hello.sh" "method: POST" "$out"
check_has "hello.sh got the body" "body: hi" "$out"

echo "== handler swapped in a running container: edit the mounted config, docker kill -s HUP"
work=$(mktemp -d /tmp/fcw-img.XXXXXX)
printf '[invoke]\nhandler = builtin:hello\n' >"$work/fcworker.conf"
chmod 0644 "$work/fcworker.conf"
start hup --read-only --tmpfs /tmp -v "$work/fcworker.conf:/etc/fcworker/fcworker.conf:ro" || exit 1
check_eq "before the reload: the seed" "Hello, World!" "$(curl -s --max-time 5 -X POST "http://127.0.0.1:$port/invoke")"
printf '[invoke]\nhandler = builtin:ok\n' >"$work/fcworker.conf"   # same inode: the mount sees it
docker kill -s HUP "$c" >/dev/null
answers_ok() { [[ $(curl -s --max-time 5 -X POST "http://127.0.0.1:$port/invoke") == OK ]]; }
wait_for 10 answers_ok
check "after SIGHUP: the new handler answers" answers_ok
check_eq "SIGHUP did not stop the container" running "$(state "$c" Status)"
rm -rf "$work"

echo "== handler swapped by a mounted program"
start exec --read-only --tmpfs /tmp -v "$fx:/opt/function:ro" -e FC_FUNCTION_NAME=mounted \
    -e FCWORKER_INVOKE=exec:/opt/function/custom.sh || exit 1
out=$(curl -s -i --max-time 5 -X POST "http://127.0.0.1:$port/invoke" --data-binary 'e1')
check_has "mounted program answers" "custom handler for mounted, event: e1" "$out"
check_has "mounted program's answer keeps x-fc-status" "x-fc-status: 200" "$out"

echo "== the worker adopts and reaps orphans (it is their subreaper, so the stop can end them)"
start orphan --read-only --tmpfs /tmp -v "$fx:/opt/function:ro" -e FCWORKER_INVOKE=exec:/opt/function/orphan.sh || exit 1
for i in 1 2 3; do curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/invoke" -X POST; done
ps_out=$(procs "$c")
check_eq "orphans are re-parented to the worker" 3 \
    "$(docker exec "$c" sh -c 'w=$(grep -l "^Name:[[:space:]]*fcworker$" /proc/[0-9]*/status | head -1 | cut -d/ -f3); grep -l "^PPid:[[:space:]]*$w$" /proc/[0-9]*/status 2>/dev/null | xargs -r grep -l "^Name:[[:space:]]*sleep$" | wc -l')"
sleep 2.5   # the orphans sleep 1 s
ps_out=$(procs "$c")
check_eq "no zombie left once they exit" "" "$(awk '$3 == "Z"' <<<"$ps_out")"
check_eq "no orphan left" "" "$(awk '$4 == "sleep"' <<<"$ps_out")"

echo "== docker stop during in-flight requests"
start stop -v "$fx:/opt/function:ro" -e FCWORKER_INVOKE=exec:/opt/function/sleep2.sh || exit 1
work=$(mktemp -d /tmp/fcw-img.XXXXXX)
n=5
for ((i = 0; i < n; i++)); do
    curl -s -o "$work/body.$i" -w '%{http_code}\n' --max-time 30 -X POST "http://127.0.0.1:$port/invoke" \
        -H "x-fc-request-id: stop-$i" >"$work/code.$i" 2>/dev/null &
done
in_flight() { (($(docker logs "$c" 2>/dev/null | grep -c 'FC Invoke Start RequestId: stop-') == n)); }
wait_for 10 in_flight; check "all $n requests in flight before the stop" in_flight
t0=$(date +%s%N)
docker stop -t 40 "$c" >/dev/null
stop_ms=$((($(date +%s%N) - t0) / 1000000))
wait
echo "   docker stop took ${stop_ms} ms"
codes=$(cat "$work"/code.* | sort | uniq -c | awk '{print $2 "x" $1}')
check_eq "every in-flight request completed with 200" "200x$n" "$codes"
check_eq "every body arrived" "$n" "$(cat "$work"/body.* | grep -c '^slept$')"
check_eq "container exit code 0 after docker stop" 0 "$(state "$c" ExitCode)"
check "stop finished within the drain time (30 s)" test "$stop_ms" -lt 30000
logs=$(docker logs "$c" 2>&1)
check_eq "all $n invocations logged their End" "$n" "$(grep -c 'FC Invoke End RequestId: stop-' <<<"$logs")"
rm -rf "$work"

echo "== a dead worker ends the container"
start kill || exit 1
docker exec "$c" sh -c 'for s in /proc/[0-9]*/comm; do [ "$(cat $s 2>/dev/null)" = fcworker ] && p=${s#/proc/} && kill -KILL "${p%/comm}"; done'
exited() { [[ $(state "$c" Status) == exited ]]; }
wait_for 15 exited
check "container exited after the worker was killed" exited
code=$(state "$c" ExitCode)
check "container exit code is non-zero ($code)" test "${code:-0}" -ne 0
check_has "the reason is logged" "fcworker exited with status" "$(docker logs "$c" 2>&1)"

start kill-nginx || exit 1
docker exec "$c" sh -c 'kill -KILL "$(cat /tmp/fcworker/nginx.pid)"'
wait_for 15 exited
check "container exited after nginx was killed" exited
code=$(state "$c" ExitCode)
check "exit code non-zero after nginx died ($code)" test "${code:-0}" -ne 0

echo "== derived image docker/python: FC's seed Flask app under gunicorn as [app]"
# Built here, FROM the image under test, so the two never disagree.
py_log=/tmp/fcworker-docker-build-python.log
if docker build --network host --build-arg FCWORKER_IMAGE="$IMAGE" -f "$top/docker/python/Dockerfile" \
        -t "$PYTHON_IMAGE" "$top" >"$py_log" 2>&1; then
    ok "docker/python/Dockerfile builds FROM $IMAGE"
    python_built=1
else
    not_ok "docker/python/Dockerfile builds FROM $IMAGE" "$(tail -n 20 "$py_log") (full log: $py_log)"
    python_built=0
fi
if ((python_built)); then
    echo "   $PYTHON_IMAGE: $(docker image inspect -f '{{.Size}}' "$PYTHON_IMAGE" | awk '{printf "%.1f MB", $1/1e6}')"
    check_eq "python image runs as uid 10001 again" "10001:10001" \
        "$(docker image inspect -f '{{.Config.User}}' "$PYTHON_IMAGE")"
    out=$(docker run --rm --network host --entrypoint sh "$PYTHON_IMAGE" -c \
        'ls /var/lib/apt/lists | grep -v -e ^lock$ -e ^partial$ -e ^auxfiles$; true')
    check_eq "no apt lists in the python image" "" "$out"
    # Host networking: gunicorn would bind the host's 127.0.0.1:9001 (fcworker.conf's
    # address, private to the container on FC), so it moves to a free port here.
    app_port=$(free_port)
    if run_image=$PYTHON_IMAGE start flask --read-only --tmpfs /tmp -e FC_FUNCTION_NAME=seed \
        -e FCWORKER_APP_ADDRESS="127.0.0.1:$app_port" \
        -e FCWORKER_APP_COMMAND="gunicorn -w 2 -b 127.0.0.1:$app_port app:app"; then
        out=$(curl -s -i --max-time 10 -X POST "http://127.0.0.1:$port/initialize" -H 'x-fc-request-id: py-init')
        check_has "seed app: initialize answers 200" "HTTP/1.1 200" "$out"
        out=$(curl -s -i --max-time 10 -X POST "http://127.0.0.1:$port/invoke" -H 'x-fc-request-id: py-1' \
            --data-binary 'ev')
        check_has "seed app: invoke answers 200" "HTTP/1.1 200" "$out"
        check_has "seed app: invoke answers Hello, World!" $'\r\n\r\nHello, World!' "$out"
        check_has "seed app: x-fc-status: 200" "x-fc-status: 200" "$out"
        check_has "seed app: Function-Name from the container's environment" "Function-Name: seed" "$out"
        out=$(curl -s --max-time 10 "http://127.0.0.1:$port/any/path?x=1" -H 'x-fc-control-path: /http-invoke')
        check_eq "seed app: HTTP invoke on any path" "Hello, World!" "$out"
        # The app prints its own FC lines; the worker's pair is kept and the app's dropped.
        # docker's log copier may lag the answer a little: wait for the End line first.
        py_end() { docker logs "$c" 2>/dev/null | grep -qx 'FC Invoke End RequestId: py-1'; }
        wait_for 5 py_end
        logs=$(docker logs "$c" 2>/dev/null)
        check_eq "seed app: one Invoke Start line for py-1" 1 "$(grep -cx 'FC Invoke Start RequestId: py-1' <<<"$logs")"
        check_eq "seed app: one Invoke End line for py-1" 1 "$(grep -cx 'FC Invoke End RequestId: py-1' <<<"$logs")"
        check_eq "seed app: one Initialize Start line" 1 "$(grep -cx 'FC Initialize Start RequestId: py-init' <<<"$logs")"
        check_eq "seed app: one Initialize End line" 1 "$(grep -cx 'FC Initialize End RequestId: py-init' <<<"$logs")"
        out=$("$fc_local" -u "http://127.0.0.1:$port" lifecycle 2>&1); rc=$?
        check_eq "fc-local lifecycle passes against the seed app" 0 "$rc"
        ps_out=$(procs "$c")
        check_eq "gunicorn master and 2 workers run as uid 10001" 3 \
            "$(awk '$2 == 10001 && $4 == "gunicorn"' <<<"$ps_out" | wc -l)"
        check_eq "no process runs as root in the python image" "" "$(awk '$2 == 0' <<<"$ps_out")"
        docker stop -t 40 "$c" >/dev/null
        check_eq "python container exit code 0 after docker stop" 0 "$(state "$c" ExitCode)"
    else
        not_ok "the python image starts and answers" "$(docker logs "$c" 2>&1 | tail -n 20)"
    fi
fi

echo "== docker-compose: docker/docker-compose.yml with the host-network override"
# docker-compose v1 refuses published ports with network_mode: host and merges port
# lists instead of replacing them, so the merged configuration is rendered and its
# ports dropped; everything else (images, environment, mounts, read_only, tmpfs) is the
# files' own.
if ! command -v docker-compose >/dev/null || ! py=$(yaml_python); then
    not_ok "docker-compose and python3-yaml are installed" "missing: run scripts/test-container"
else
    work=$(mktemp -d /tmp/fcw-img.XXXXXX)
    p1=$(free_port); p2=$(free_port); p3=$(free_port); p4=$(free_port)
    while [[ $p2 == "$p1" ]]; do p2=$(free_port); done
    while [[ $p3 == "$p1" || $p3 == "$p2" ]]; do p3=$(free_port); done
    while [[ $p4 == "$p1" || $p4 == "$p2" || $p4 == "$p3" ]]; do p4=$(free_port); done
    project=fcwtest$$
    FCWORKER_IMAGE=$IMAGE FCWORKER_PYTHON_IMAGE=$PYTHON_IMAGE FCWORKER_TEST_PORT=$p1 \
        FCWORKER_TEST_CUSTOM_PORT=$p2 FCWORKER_TEST_FLASK_PORT=$p3 FCWORKER_TEST_FLASK_APP_PORT=$p4 \
        docker-compose -f "$top/docker/docker-compose.yml" -f "$top/docker/docker-compose.test.yml" \
        config >"$work/merged.yml" 2>"$work/compose.err"
    check "docker-compose accepts the files" test -s "$work/merged.yml"
    "$py" - "$work/merged.yml" "$work/run.yml" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for s in d["services"].values():
    s.pop("ports", None)
    s.pop("build", None)   # the image under test is already built
yaml.safe_dump(d, open(sys.argv[2], "w"))
PY
    compose() { docker-compose -p "$project" -f "$work/run.yml" "$@"; }
    if compose up -d >"$work/up.log" 2>&1; then ok "docker-compose up"; else not_ok "docker-compose up" "$(cat "$work/up.log")"; fi
    wait_for 20 tcp_up "$p1"; wait_for 20 tcp_up "$p2"; wait_for 20 tcp_up "$p3"
    out=$(curl -s -i --max-time 5 -X POST "http://127.0.0.1:$p1/invoke")
    check_has "compose runtime answers the seed" "Hello, World!" "$out"
    check_has "compose runtime's function name" "Function-Name: runtime" "$out"
    out=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$p2/some/path" --data-binary 'cbody')
    check_has "compose custom runs the mounted hello.sh" "method: POST" "$out"
    check_has "compose custom's hello.sh got the body" "body: cbody" "$out"
    "$fc_local" -u "http://127.0.0.1:$p2" -q http GET /hi >/dev/null 2>&1
    check_eq "fc-local against the compose custom service" 0 "$?"
    out=$(curl -s -i --max-time 10 -X POST "http://127.0.0.1:$p3/invoke" -H 'x-fc-request-id: cf-1')
    check_has "compose flask answers the seed" $'\r\n\r\nHello, World!' "$out"
    check_has "compose flask's function name" "Function-Name: flask" "$out"
    compose down -t 40 >"$work/down.log" 2>&1
    check_eq "docker-compose down leaves no container" "" \
        "$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
    rm -rf "$work"
fi

echo "== image $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1/1e6}'), cold start ${cold_ms} ms, docker stop with $n in flight ${stop_ms} ms"
summary test-image
