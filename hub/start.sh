#!/usr/bin/env bash
# Starts the room's JupyterHub (hub/jupyterhub_config.py) in the foreground, as root (it
# creates each learner's system account and runs their server as them). Stop it with Ctrl-C.
#
#   sudo MTLS_HUB_PASSWORD='room password' MTLS_HUB_IP=192.0.2.10 \
#        MTLS_HUB_CERT=/etc/ssl/room.crt MTLS_HUB_KEY=/etc/ssl/room.key hub/start.sh
#
# MTLS_HUB_PASSWORD  the workshop password (8 characters or more), required
# MTLS_HUB_IP        the address learners reach (default 127.0.0.1: this machine only)
# MTLS_HUB_PORT      the hub's https port (default 8443)
# MTLS_HUB_CERT/KEY  the hub's certificate and key (PEM); default: the course PKI's server
#                    certificate in certs/ (names localhost and 127.0.0.1 only)
# MTLS_HUB_COURSE    what each learner clones on first login (default: this checkout)
# MTLS_HUB_STATE     the hub's database and cookie secret (default HUB_PREFIX/state)
# MTLS_HUB_CULL_TIMEOUT  seconds of inactivity before a learner's server is stopped (3600)
# HUB_PREFIX         where hub/install.sh installed the hub (default hub/.prefix)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
export HUB_PREFIX=${HUB_PREFIX:-$HERE/.prefix}
[[ $(id -u) == 0 ]] || { echo "hub/start.sh must run as root: it creates the learners' accounts" >&2; exit 2; }
[[ -n "${MTLS_HUB_PASSWORD:-}" ]] || { echo "set MTLS_HUB_PASSWORD to the workshop password" >&2; exit 2; }
[[ -x "$HUB_PREFIX/venv/bin/jupyterhub" ]] || "$HERE/install.sh"
if [[ -z "${MTLS_HUB_CERT:-}" ]]; then
    (cd "$ROOT" && PYTHONPATH="$ROOT" "$HUB_PREFIX/venv/bin/python" -m lab pki init --dir certs --if-missing >/dev/null)
    export MTLS_HUB_CERT=$ROOT/certs/server.crt MTLS_HUB_KEY=$ROOT/certs/server.key
fi
mkdir -p "${MTLS_HUB_STATE:-$HUB_PREFIX/state}"
cd "${MTLS_HUB_STATE:-$HUB_PREFIX/state}"
exec "$HUB_PREFIX/venv/bin/jupyterhub" -f "$HERE/jupyterhub_config.py"
