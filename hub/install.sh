#!/usr/bin/env bash
# Installs the one-host hub: JupyterHub and the idle culler (PyPI) with the course's own pins
# into a venv of their own, and configurable-http-proxy (npm) beside it, all under HUB_PREFIX.
# The learners' Jupyter servers and kernels run from this venv, so it must be readable by
# every learner: for a room, use a prefix outside any home, e.g. HUB_PREFIX=/opt/mtls-lab-hub.
#   hub/install.sh                      # into hub/.prefix (what `make hub` and the test use)
#   HUB_PREFIX=/opt/mtls-lab-hub hub/install.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PREFIX=${HUB_PREFIX:-$HERE/.prefix}
# The learners run this venv's Python, so its interpreter must be one every account can run:
# the system's (a pyenv or conda Python under root's home cannot be reached by a learner).
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
# Exact pin, like the PyPI ones in hub/requirements.txt.
CHP_VERSION=5.3.0
STAMP=$PREFIX/.installed

inputs="$HERE/requirements.txt $ROOT/requirements.txt $0"
if [[ -f "$STAMP" ]] && [[ -z "$(find $inputs -newer "$STAMP")" ]]; then
    echo "hub already installed in $PREFIX"
    exit 0
fi
command -v npm >/dev/null || { echo "hub/install.sh needs npm (Debian: apt-get install npm)" >&2; exit 2; }
if [[ $(id -u) == 0 ]] && ! setpriv --reuid=65534 --regid=65534 --clear-groups "$PYTHON" -c '' 2>/dev/null; then
    echo "$PYTHON cannot be run by another account; set PYTHON to a system Python 3.10+" >&2
    exit 2
fi
mkdir -p "$PREFIX"
test -x "$PREFIX/venv/bin/python" || "$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install --quiet --upgrade pip
# The course's pins without its `-e .` line: each learner imports `lab` from their own copy
# of the course (PYTHONPATH, set by jupyterhub_config.py), never from this checkout.
grep -v '^-e ' "$ROOT/requirements.txt" > "$PREFIX/course-pins.txt"
"$PREFIX/venv/bin/python" -m pip install --quiet -r "$PREFIX/course-pins.txt" -r "$HERE/requirements.txt"
npm install --silent --no-audit --no-fund --prefix "$PREFIX/node" "configurable-http-proxy@$CHP_VERSION"
# The course's Jupyter settings, as `make lab` installs them into the course's .venv.
mkdir -p "$PREFIX/venv/share/jupyter/lab/settings" "$PREFIX/venv/etc/jupyter"
cp "$ROOT/jupyter/overrides.json" "$PREFIX/venv/share/jupyter/lab/settings/overrides.json"
cp "$ROOT/jupyter/jupyter_server_config.json" "$PREFIX/venv/etc/jupyter/jupyter_server_config.json"
chmod -R a+rX "$PREFIX"
if [[ $(id -u) == 0 ]] && ! setpriv --reuid=65534 --regid=65534 --clear-groups "$PREFIX/venv/bin/python" -c '' 2>/dev/null; then
    echo "learners cannot reach $PREFIX (a parent folder is closed to other accounts);" \
        "install elsewhere, e.g. HUB_PREFIX=/opt/mtls-lab-hub" >&2
    exit 2
fi
touch "$STAMP"
echo "hub installed in $PREFIX: $("$PREFIX/venv/bin/jupyterhub" --version)," \
    "configurable-http-proxy $("$PREFIX/node/node_modules/.bin/configurable-http-proxy" --version)"
