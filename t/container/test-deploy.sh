#!/bin/bash
# test-deploy.sh -- checks docker/deploy/*.yaml (t/container/test_deploy.py) with a
# python3 that has PyYAML; installs python3-yaml when none has it. No docker needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/t/container/lib.sh"
if ! py=$(yaml_python); then
    echo "test-deploy: installing python3-yaml" >&2
    SUDO=""
    (($(id -u) == 0)) || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-yaml >&2
    py=$(yaml_python)
fi
exec "$py" "$top/t/container/test_deploy.py"
