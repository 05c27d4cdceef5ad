# lib.sh -- what the shell tests under t/container/ share: checks that count, a free
# port, bounded waits. Sourced, not run.
#
# Each test file calls `check NAME COMMAND...` (passes when COMMAND exits 0) or
# `ok NAME` / `not_ok NAME WHY`, and ends with `summary`, which prints the closing
# "NAME: N passed, N failed" line and returns non-zero on any failure.

passed=0
failed=0
failed_names=()

ok() { passed=$((passed + 1)); printf 'ok     %s\n' "$1"; }
not_ok() {
    failed=$((failed + 1)); failed_names+=("$1")
    printf 'FAIL   %s: %s\n' "$1" "${2:-}"
}
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "command failed: $*"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "expected '$2', got '$3'"; fi
}
# check_has NAME NEEDLE HAYSTACK
check_has() {
    if [[ $3 == *"$2"* ]]; then ok "$1"; else not_ok "$1" "expected to contain '$2', got: ${3:0:2000}"; fi
}
check_lacks() {
    if [[ $3 != *"$2"* ]]; then ok "$1"; else not_ok "$1" "must not contain '$2', got: ${3:0:2000}"; fi
}

summary() {
    local label=$1
    ((${#failed_names[@]})) && echo "failing: ${failed_names[*]}"
    echo "$label: $passed passed, $failed failed"
    ((failed == 0))
}

# A TCP port on 127.0.0.1 that nothing listens on now (bash's /dev/tcp, no extra tools).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM % 20000)))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds, for at most
# SECONDS of wall-clock time (however long each COMMAND takes).
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do
        "$@" 2>/dev/null && return 0
        sleep 0.1
    done
    "$@" 2>/dev/null
}

# tcp_up PORT: something accepts on 127.0.0.1:PORT (FC's own start-up check).
tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A python3 that has PyYAML (the Debian package python3-yaml provides it for
# /usr/bin/python3); prints its path, or fails.
yaml_python() {
    local py
    for py in python3 /usr/bin/python3; do
        command -v "$py" >/dev/null && "$py" -c 'import yaml' 2>/dev/null && { command -v "$py"; return 0; }
    done
    return 1
}
