#!/usr/bin/env bash
# Install what the tests need (Debian packages + pip extras into .venv) and run the suite.
# Extra arguments go to pytest (e.g. --run-slow, -k name).
set -euo pipefail
source "$(dirname "$0")/env.sh" test
apt_install sysbench mariadb-client libmariadb-dev pkg-config tmux
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q "$@"
