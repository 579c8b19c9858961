#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# One process per GPU (NCCL); on a machine without a GPU, NUM_PROCS CPU processes (gloo).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun.
# Preemption: a SIGTERM, SIGUSR1 or SIGUSR2 sent to this script goes on to every worker (torchrun
# starts them in their own sessions, so a signal to this script's process group misses them); the
# workers save at the next iteration (PreemptionHook) and the script exits with status 75. Run the
# same command with --resume to continue. Other exit statuses are torchrun's.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

# torchrun exits 1 when a worker exits 75; rank 0 writes the status it meant here
STATUS_FILE=${MMMOGA_EXIT_STATUS_FILE:-$(mktemp "${TMPDIR:-/tmp}/mmmoga_exit_status.XXXXXX")}
: > "$STATUS_FILE"

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH MMMOGA_EXIT_STATUS_FILE="$STATUS_FILE" \
python -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}" &
LAUNCHER=$!

# to the workers (torchrun's children) only: torchrun, signalled itself, would give them 30 s
# before SIGKILL, and it does not handle SIGUSR1/SIGUSR2
forward() { pkill "-$1" -P "$LAUNCHER"; }
trap 'forward TERM' TERM
trap 'forward USR1' USR1
trap 'forward USR2' USR2

while true; do
    wait "$LAUNCHER"
    STATUS=$?
    kill -0 "$LAUNCHER" 2>/dev/null || break  # else a trapped signal interrupted the wait
done
if [ "$(cat "$STATUS_FILE" 2>/dev/null)" = 75 ]; then
    STATUS=75
fi
[ -z "$MMMOGA_EXIT_STATUS_FILE" ] && rm -f "$STATUS_FILE"
exit $STATUS
