"""tools/dist_train.sh passes a preemption signal on to torchrun's workers and exits with their
status 75; tools/slurm_train.sh asks Slurm for the signal, resumes, and requeues on 75.

The workers and Slurm's commands are stand-ins: a worker script that records the signal it gets
(in place of tools/train.py, beside a copy of dist_train.sh), and `srun` / `scontrol` scripts on
PATH that record their arguments.
"""
import os
import os.path as osp
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
from tiny_training import free_port

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

WORKER = '''\
import os, signal, sys, time
rank, out = os.environ['RANK'], sys.argv[1]

def stop(signum, frame):
    with open(os.path.join(out, f'rank{rank}.signal'), 'w') as f:
        f.write(signal.Signals(signum).name)
    if rank == '0':
        with open(os.environ['MMMOGA_EXIT_STATUS_FILE'], 'w') as f:
            f.write('75\\n')
    sys.exit(75)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGUSR1, stop)
with open(os.path.join(out, f'rank{rank}.ready'), 'w') as f:
    f.write(str(os.getpid()))
time.sleep(120)
'''

# the script as it was before it forwarded signals: torchrun in the foreground
PLAIN_DIST_TRAIN = '''\
#!/usr/bin/env bash
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH python -m torch.distributed.run \\
    --nproc_per_node=$2 --master_port=$PORT "$(dirname "$0")/train.py" "$1" --launcher pytorch
'''


def _tools(tmp_path, script=None):
    tools = tmp_path / 'tools'
    tools.mkdir()
    if script is None:
        shutil.copy(osp.join(ROOT, 'tools', 'dist_train.sh'), tools / 'dist_train.sh')
    else:
        (tools / 'dist_train.sh').write_text(script)
    (tools / 'train.py').write_text(WORKER)
    out = tmp_path / 'out'
    out.mkdir()
    return tools / 'dist_train.sh', out


def _start(script, out):
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    env.pop('MMMOGA_EXIT_STATUS_FILE', None)
    process = subprocess.Popen(['bash', str(script), str(out), '2'],
                               env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 60
    while len(list(out.glob('rank*.ready'))) < 2:
        assert time.time() < deadline and process.poll() is None, 'the workers did not start'
        time.sleep(0.1)
    return process


def _kill_workers(out):
    for ready in out.glob('rank*.ready'):
        try:
            os.kill(int(ready.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_dist_train_passes_the_signal_to_every_worker(tmp_path, signum):
    script, out = _tools(tmp_path)
    process = _start(script, out)
    try:
        os.kill(process.pid, signum)  # the script only, as `kill PID` or sbatch --signal=B:TERM
        assert process.wait(timeout=60) == 75
        for rank in range(2):
            assert (out / f'rank{rank}.signal').read_text() == signum.name
    finally:
        _kill_workers(out)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_control_without_forwarding_the_workers_never_get_the_signal(tmp_path):
    script, out = _tools(tmp_path, PLAIN_DIST_TRAIN)
    process = _start(script, out)
    try:
        os.kill(process.pid, signal.SIGTERM)  # bash dies of it; torchrun and the workers run on
        assert process.wait(timeout=60) == -signal.SIGTERM
        time.sleep(3)
        assert not list(out.glob('rank*.signal'))
    finally:
        _kill_workers(out)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the orphaned torchrun agent
        except ProcessLookupError:
            pass


FAKE_SRUN = '''#!/usr/bin/env bash
# records its arguments; exits with the next status of $FAKE_STATUSES (75: as a preempted run,
# which writes the status file and leaves a checkpoint)
echo "$@" >> "$FAKE_LOG"
n=$(wc -l < "$FAKE_LOG")
status=$(echo $FAKE_STATUSES | cut -d' ' -f$n)
if [ "$status" = 75 ]; then
    echo 75 > "$MMMOGA_EXIT_STATUS_FILE"
    echo "$WORK_DIR/preempted_iter_$n.pth" > "$WORK_DIR/last_checkpoint"
fi
exit $status
'''


def _slurm(tmp_path, statuses, job_id=None):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', 'echo "$@" >> "$FAKE_REQUEUE_LOG"\n')):
        path = bin_dir / name
        path.write_text(text if text.startswith('#!') else '#!/usr/bin/env bash\n' + text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    work_dir = tmp_path / 'work'
    env = dict(
        os.environ,
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        FAKE_LOG=str(tmp_path / 'srun.log'),
        FAKE_REQUEUE_LOG=str(tmp_path / 'scontrol.log'),
        FAKE_STATUSES=' '.join(map(str, statuses)),
        WORK_DIR=str(work_dir))
    env.pop('SLURM_JOB_ID', None)
    if job_id:
        env['SLURM_JOB_ID'] = job_id
    result = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'slurm_train.sh'), 'gpu', 'job', 'cfg.py',
        str(work_dir), '--amp'
    ],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=60)
    launches = (tmp_path / 'srun.log').read_text().splitlines()
    requeues = ((tmp_path / 'scontrol.log').read_text().splitlines() if
                (tmp_path / 'scontrol.log').exists() else [])
    return result.returncode, launches, requeues, work_dir


def test_slurm_train_in_a_batch_job_requeues_on_preemption(tmp_path):
    status, launches, requeues, work_dir = _slurm(tmp_path, [75], job_id='4242')
    assert status == 75 and requeues == ['requeue 4242']
    assert '--signal=TERM@120' in launches[0].split()
    assert launches[0].split()[-1] == '--amp'  # no last_checkpoint yet: no --resume
    assert not list(work_dir.glob('.exit_status*'))


def test_slurm_train_from_a_login_shell_starts_again_and_resumes(tmp_path):
    status, launches, requeues, _ = _slurm(tmp_path, [75, 75, 0])
    assert status == 0 and requeues == [] and len(launches) == 3
    assert [line.split()[-1] for line in launches] == ['--amp', '--resume', '--resume']


def test_slurm_train_passes_other_failures_through(tmp_path):
    status, launches, requeues, _ = _slurm(tmp_path, [3], job_id='4242')
    assert status == 3 and len(launches) == 1 and requeues == []


def test_train_py_exits_with_75_and_says_how_to_continue():
    text = open(osp.join(ROOT, 'tools', 'train.py')).read()
    assert 'sys.exit(PREEMPTED_EXIT_STATUS)' in text and 'Exit status 75' in text
    assert sys.executable  # the worker stand-in above runs under this interpreter's torchrun
