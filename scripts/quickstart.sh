#!/usr/bin/env bash
# Install marmotdb into .venv and start a local node you can connect to with `mysql`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
apt_install mariadb-client
export MARMOTDB_ROOT_PASSWORD="${MARMOTDB_ROOT_PASSWORD:-marmot}"
PORT="${MARMOTDB_MYSQL_PORT:-3306}"
echo "marmotdb: connect with:  mariadb -h127.0.0.1 -P$PORT -uroot -p$MARMOTDB_ROOT_PASSWORD"
exec marmotdb serve --data-dir "${MARMOTDB_DATA_DIR:-$ROOT/data}" --mysql-port "$PORT" "$@"
