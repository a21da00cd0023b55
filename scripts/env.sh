# Shared by the quick-start scripts: a virtualenv in .venv with marmotdb installed.
# Usage: source scripts/env.sh; apt_install PKG...; install_marmotdb [extras]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MARMOTDB_VENV:-$ROOT/.venv}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  # Install Debian packages that are missing (apt-get update once, only when needed).
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
installed() {
  # True when $VENV already runs this checkout's marmotdb with every pinned dependency (of
  # the extra $1 too), so a second run of the quick start skips pip entirely.
  [ -x "$VENV/bin/marmotdb" ] && "$VENV/bin/python" -P - "$ROOT" "${1:-}" 2>/dev/null <<'PY'
import sys, tomllib, importlib.metadata as md, re
root, extra = sys.argv[1], sys.argv[2]
import marmotdb
if not marmotdb.__file__.startswith(root + "/"):
    sys.exit(1)
project = tomllib.load(open(root + "/pyproject.toml", "rb"))["project"]
wanted = project["dependencies"] + (project["optional-dependencies"].get(extra, []) if extra else [])
for requirement in wanted:
    name, version = re.split(r"==", requirement)
    if md.version(name) != version:
        sys.exit(1)
PY
}
install_marmotdb() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
  fi
  installed "${1:-}" ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${1:+[$1]}"
  export PATH="$VENV/bin:$PATH"
}
