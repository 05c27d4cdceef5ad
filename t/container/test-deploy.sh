#!/bin/bash
# test-deploy.sh -- checks docker/deploy/*.yaml (t/container/test_deploy.py) with a
# python3 that has PyYAML (python3-yaml, installed by `scripts/setup --tests`, which
# `make test` runs first). No docker, no network.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/t/container/lib.sh"
if ! py=$(yaml_python); then
    echo "test-deploy: no python3 with PyYAML: run 'scripts/setup --tests' (installs python3-yaml)" >&2
    exit 1
fi
exec "$py" "$top/t/container/test_deploy.py"
