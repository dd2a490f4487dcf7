#!/usr/bin/env bash
# Builds the learners' image for Zero to JupyterHub from binder/ with repo2docker, the same
# environment Binder builds, plus the JupyterHub that the chart's hub speaks to (z2jh 4.4.0
# runs JupyterHub 5.5.0; jupyterhub-singleuser must be in the image). The course goes to
# /srv/mtls-lab in the image; config.yaml copies it into each learner's home on first start.
#   pip install jupyter-repo2docker && hub/z2jh/build-image.sh registry.example.org/mtls-lab:2026.12
# then `docker push` it, and put its name and tag in config.yaml (singleuser.image).
set -euo pipefail
IMAGE=${1:?usage: hub/z2jh/build-image.sh REGISTRY/NAME:TAG}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# A clean clone: never the working tree, whose certs/ may hold keys.
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
git clone --quiet "$ROOT" "$SRC/mtls-lab"
repo2docker --no-run --user-name jovyan --target-repo-dir /srv/mtls-lab --image-name "$IMAGE" \
    --appendix 'RUN python -m pip install --no-cache-dir jupyterhub==5.5.0' "$SRC/mtls-lab"
