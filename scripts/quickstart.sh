#!/usr/bin/env bash
# Install marmotdb into .venv and run a local 3-node cluster in the foreground (Ctrl-C stops
# it). It prints how to connect with `mysql`/`mariadb` to any node, and the one `source` line
# that puts the `marmotdb` command on the PATH of another shell.
set -euo pipefail
source "$(dirname "$0")/env.sh"
apt_install mariadb-client
install_marmotdb
export MARMOTDB_ROOT_PASSWORD="${MARMOTDB_ROOT_PASSWORD:-marmot}"
# The same folder `marmotdb cluster ...` uses by default when run from the checkout.
export MARMOTDB_DATA_DIR="${MARMOTDB_DATA_DIR:-$ROOT/marmotdb-data}"
exec marmotdb cluster up --foreground "$@"
