#!/usr/bin/env bash
# A workshop room on one host: three learners = three checkouts of HEAD on one machine,
# each running the whole course's strict nbval at the same time, while a fourth learner
# runs `python -m lab reset --yes` in their own checkout again and again.
# All three must pass: nobody's servers, nginx or files may be touched by another.
#
# Not collected by pytest (it is a shell script); run it by hand, it takes a while:
#   tests/workshop_room.sh                  # one shared venv (this checkout's .venv)
#   VENV_MODE=each tests/workshop_room.sh   # one venv per learner (make venv in each)
#   LEARNERS=2 NOTEBOOKS="notebooks/02_server.ipynb" tests/workshop_room.sh
#
# With a shared venv, each learner's PYTHONPATH is their own checkout: the venv's
# editable install points at *this* checkout, and `lab` finds its certs/ and state
# folder next to its own code, so without it the three would share one certs/.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
LEARNERS=${LEARNERS:-3}
VENV_MODE=${VENV_MODE:-shared}
NOTEBOOKS=${NOTEBOOKS:-}
ROOM=$(mktemp -d "${TMPDIR:-/tmp}/mtls-lab-room-XXXXXX")
SHARED_VENV="$ROOT/.venv"

cleanup() {
    [[ -n "${RESETTER_PID:-}" ]] && kill "$RESETTER_PID" 2>/dev/null || true
    for i in $(seq 0 "$LEARNERS"); do
        git -C "$ROOT" worktree remove --force "$ROOM/learner$i" 2>/dev/null || true
    done
    git -C "$ROOT" worktree prune
    rm -rf "$ROOM"
}
trap cleanup EXIT

# Learner 0 only resets; learners 1..N run the course.
for i in $(seq 0 "$LEARNERS"); do
    git -C "$ROOT" worktree add --quiet --detach "$ROOM/learner$i" HEAD
done

start=$(date +%s)
if [[ "$VENV_MODE" == shared ]]; then
    [[ -x "$SHARED_VENV/bin/python" ]] || { echo "make venv test-tools in $ROOT first" >&2; exit 2; }
    for i in $(seq 0 "$LEARNERS"); do ln -s "$SHARED_VENV" "$ROOM/learner$i/.venv"; done
else
    for i in $(seq 0 "$LEARNERS"); do
        make -C "$ROOM/learner$i" --no-print-directory venv test-tools >"$ROOM/venv$i.log" 2>&1
    done
fi
echo "venvs ready ($VENV_MODE) after $(($(date +%s) - start)) s"

learner_env() {  # the environment learner $1 works in
    local dir="$ROOM/learner$1"
    if [[ "$VENV_MODE" == shared ]]; then echo "PYTHONPATH=$dir"; else echo "PYTHONPATH="; fi
}

# Each learner's `lab` must be their own checkout's.
for i in $(seq 0 "$LEARNERS"); do
    (cd "$ROOM/learner$i/notebooks" && env $(learner_env "$i") ../.venv/bin/python -c \
        "import lab, sys; sys.exit(0 if lab.__file__.startswith('$ROOM/learner$i/') else lab.__file__)")
done

# The fourth learner resets their lab every 20 s for the whole run.
(
    cd "$ROOM/learner0"
    while true; do
        env $(learner_env 0) .venv/bin/python -m lab reset --yes >>"$ROOM/reset.log" 2>&1 || true
        sleep 20
    done
) &
RESETTER_PID=$!

run_start=$(date +%s)
pids=()
for i in $(seq 1 "$LEARNERS"); do
    (
        cd "$ROOM/learner$i"
        # -o: the venv is ready; never let make reinstall into a venv others are using.
        env $(learner_env "$i") make --no-print-directory -o .venv/.installed nbval \
            ${NOTEBOOKS:+NOTEBOOKS="$NOTEBOOKS"} >"$ROOM/learner$i.log" 2>&1
    ) &
    pids+=($!)
done

failed=0
for i in $(seq 1 "$LEARNERS"); do
    if wait "${pids[$((i - 1))]}"; then rc=0; else rc=$?; failed=$((failed + 1)); fi
    echo "learner$i: make nbval exit $rc: $(grep -E '(passed|failed|error)' "$ROOM/learner$i.log" | tail -1)"
done
kill "$RESETTER_PID" 2>/dev/null || true
wait "$RESETTER_PID" 2>/dev/null || true
echo "resets run by learner0: $(grep -c '^stopped ' "$ROOM/reset.log" || true)"
echo "nbval wall time: $(($(date +%s) - run_start)) s for $LEARNERS learners at once"
if ((failed)); then
    for i in $(seq 1 "$LEARNERS"); do
        echo "---- learner$i (last 30 lines)"; tail -30 "$ROOM/learner$i.log"
    done
    exit 1
fi
echo "all $LEARNERS learners passed"
