#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SIGNAL_BEFORE=120] [MAX_RELAUNCHES=100] \
#        [SRUN_ARGS=...] tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Preemption and time limits: srun asks Slurm for a SIGTERM SIGNAL_BEFORE seconds before the time
# limit (--signal); every task saves at the next iteration (PreemptionHook) and exits with status
# 75. Inside an sbatch job the script then requeues the job (scontrol requeue; submit with
# --requeue); from a login shell it starts srun again. Either way the run resumes on its own from
# WORK_DIR/last_checkpoint (the script adds --resume when that file exists), and a preemption
# with the cluster's own SIGTERM (PreemptMode=REQUEUE) resumes the same way.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SIGNAL_BEFORE=${SIGNAL_BEFORE:-120}
MAX_RELAUNCHES=${MAX_RELAUNCHES:-100}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=("${@:5}")
PREEMPTED=75

mkdir -p "$WORK_DIR"
# rank 0 writes 75 there when it stopped on a preemption (srun reports the tasks' highest status)
export MMMOGA_EXIT_STATUS_FILE="$WORK_DIR/.exit_status.${SLURM_JOB_ID:-$$}"
export MMMOGA_PREEMPT_GRACE=$SIGNAL_BEFORE  # a save that would not finish by then is not started

for ((LAUNCH = 0; LAUNCH <= MAX_RELAUNCHES; LAUNCH++)); do
    RESUME=()
    if [ -s "$WORK_DIR/last_checkpoint" ]; then
        RESUME=(--resume)  # last on the line: it wins over an earlier --resume PATH
    fi
    rm -f "$MMMOGA_EXIT_STATUS_FILE"
    PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
    srun -p ${PARTITION} \
        --job-name=${JOB_NAME} \
        --gres=gpu:${GPUS_PER_NODE} \
        --ntasks=${GPUS} \
        --ntasks-per-node=${GPUS_PER_NODE} \
        --cpus-per-task=${CPUS_PER_TASK} \
        --kill-on-bad-exit=1 \
        --signal=TERM@${SIGNAL_BEFORE} \
        ${SRUN_ARGS} \
        python -u "$(dirname "$0")/train.py" ${CONFIG} --work-dir=${WORK_DIR} --launcher="slurm" \
        "${PY_ARGS[@]}" "${RESUME[@]}"
    STATUS=$?
    if [ "$(cat "$MMMOGA_EXIT_STATUS_FILE" 2>/dev/null)" = "$PREEMPTED" ]; then
        STATUS=$PREEMPTED
    fi
    rm -f "$MMMOGA_EXIT_STATUS_FILE"
    if [ "$STATUS" -ne "$PREEMPTED" ]; then
        exit $STATUS
    fi
    if [ -n "$SLURM_JOB_ID" ] && scontrol requeue "$SLURM_JOB_ID"; then
        exit $PREEMPTED  # the requeued job runs this script again
    fi
done
echo "Preempted $MAX_RELAUNCHES times in a row; stopping (raise MAX_RELAUNCHES)." >&2
exit $PREEMPTED
