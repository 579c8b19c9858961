#!/usr/bin/env python
"""Check that a killed-and-resumed training run ends exactly like an uninterrupted one.

Runs ``tools/dist_train.sh CONFIG NPROC`` twice with the same seed: once uninterrupted, once hard
killed (SIGKILL of every process) as soon as its first checkpoint exists and then restarted with
``--resume``. Prints the final validation metrics of both and compares the final weights.

Example (the toy Mask R-CNN, 2 CPU processes):
  python tools/misc/verify_resume.py configs/mask_rcnn_moganet_xt_toy.py --nproc 2
"""
import argparse
import glob
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def launch(config, nproc, work_dir, port, extra=()):
    command = ['bash', osp.join(ROOT, 'tools/dist_train.sh'), config, str(nproc), '--work-dir',
               work_dir, '--cfg-options', 'randomness.seed=0', *extra]
    env = dict(os.environ, PORT=str(port))
    log = open(osp.join(work_dir, 'launcher.log'), 'a')
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def final_metrics(work_dir):
    """The metrics of the last ``Epoch(val)`` line of the newest run log."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    lines = [line for line in open(logs[-1]) if 'Epoch(val)' in line]
    return dict(re.findall(r'(coco/\w+): (-?[\d.]+)', lines[-1])) if lines else {}


def last_weights(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return torch.load(f.read().strip(), map_location='cpu', weights_only=True)['state_dict']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config')
    parser.add_argument('--nproc', type=int, default=2)
    parser.add_argument('--work-dir', default='work_dirs/verify_resume')
    parser.add_argument('--port', type=int, default=29650)
    args = parser.parse_args()
    import mmmoga  # noqa: F401  (allow-lists mmengine's checkpoint contents for weights_only)
    full, killed = osp.join(args.work_dir, 'uninterrupted'), osp.join(args.work_dir, 'killed')
    for d in (full, killed):  # start empty: a stale epoch_1.pth would trigger the kill at once
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    start = time.time()
    if launch(args.config, args.nproc, full, args.port).wait():
        sys.exit(f'uninterrupted run failed, see {full}/launcher.log')
    print(f'uninterrupted run: {time.time() - start:.0f} s')

    process = launch(args.config, args.nproc, killed, args.port + 1)
    while not glob.glob(osp.join(killed, 'epoch_1.pth')) and process.poll() is None:
        time.sleep(0.5)
    time.sleep(1)  # let the writer finish the file
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    print(f'killed the second run (SIGKILL) after {sorted(os.listdir(killed))}')
    if launch(args.config, args.nproc, killed, args.port + 2, ['--resume']).wait():
        sys.exit(f'resumed run failed, see {killed}/launcher.log')

    a, b = final_metrics(full), final_metrics(killed)
    print('uninterrupted:', a)
    print('resumed:      ', b)
    wa, wb = last_weights(full), last_weights(killed)
    same_weights = wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    print(f'final metrics identical: {a == b and bool(a)}; final weights identical: '
          f'{same_weights}')
    sys.exit(0 if a == b and a and same_weights else 1)


if __name__ == '__main__':
    main()
