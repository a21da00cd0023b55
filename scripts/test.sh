#!/usr/bin/env bash
# Install what the tests need (Debian packages, then pip extras into .venv) and run the suite.
# Extra arguments go to pytest (e.g. --run-slow, -k name, --no-differential).
set -euo pipefail
source "$(dirname "$0")/env.sh"
# sysbench and the clients are tested for real; mysqlclient builds against libmariadb;
# mariadb-server is the differential tests' reference: the session starts a private instance
# of it (tests/differential.py), so --differential makes a missing one an error, not a skip.
# faketime skews one node's clock and iproute2 puts nodes in network namespaces (fault tests).
apt_install sysbench mariadb-client mariadb-server libmariadb-dev pkg-config build-essential tmux \
  faketime iproute2
install_marmotdb test
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q --differential --durations=30 "$@"
