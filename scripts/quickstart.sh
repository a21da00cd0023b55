#!/usr/bin/env bash
# Install marmotdb into .venv and run a local 3-node cluster in the foreground (Ctrl-C stops
# it). It prints how to connect with `mysql`/`mariadb` to any node.
set -euo pipefail
source "$(dirname "$0")/env.sh"
apt_install mariadb-client
install_marmotdb
export MARMOTDB_ROOT_PASSWORD="${MARMOTDB_ROOT_PASSWORD:-marmot}"
exec marmotdb cluster up --nodes "${MARMOTDB_NODES:-3}" --foreground \
  --data-dir "${MARMOTDB_DATA_DIR:-$ROOT/data}" --base-port "${MARMOTDB_BASE_PORT:-3306}" "$@"
