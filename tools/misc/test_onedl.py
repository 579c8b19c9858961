#!/usr/bin/env python
"""Run the task tests on the maintained ``onedl-*`` forks of OpenMMLab (``make test-onedl``).

Creates a fresh venv in a temporary directory and sets it up with ``python tools/setup_env.py
--stack onedl`` (onedl-mmengine, onedl-mmcv built from source with ops, onedl-mmdetection,
onedl-mmsegmentation, onedl-mmpretrain, mmpose beside them; mmmoga with ``--no-deps``), then:

1. asks pip what installing mmmoga the documented way (``pip install --no-deps .``) would do to
   that environment (``--dry-run --report``): it must install mmmoga and nothing else; as the
   control, what a plain ``pip install .`` would install is printed too (the upstream packages,
   over the forks);
2. runs the toy training tests of every task and the config-build tests there (``TESTS``).

Exits with 1 when the dry runs differ from that, else with pytest's status. The onedl-mmcv
wheel is cached like mmcv's (``~/.cache/mmmoga``), so only the first run builds it.

Examples:
  python tools/misc/test_onedl.py          # 2 cores: about 14 min the first time, 7 after
  python tools/misc/test_onedl.py --keep   # keep the venv (its path is printed)
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time

from mmmoga.devtools.fresh_venv import fresh_venv

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TESTS = ('tests/test_stack.py', 'tests/test_toy_detection.py', 'tests/test_toy_pipeline.py',
         'tests/test_toy_segmentation.py', 'tests/test_toy_pose.py',
         'tests/test_toy_classification.py', 'tests/test_configs.py', 'tests/test_det_configs.py',
         'tests/test_seg_configs.py', 'tests/test_pose_configs.py', 'tests/test_cls_configs.py',
         'tests/test_model_zoo.py')


def run(cmd, **kwargs):
    print('+', ' '.join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs)


def would_install(python: str, *args: str) -> list:
    """``name version`` of each distribution that ``pip install *args`` would install."""
    cmd = [python, '-m', 'pip', 'install', '--dry-run', '--quiet', '--report', '-', *args]
    report = json.loads(run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    return sorted(f'{item["metadata"]["name"]} {item["metadata"]["version"]}'
                  for item in report['install'])


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--keep', action='store_true', help='keep the venv and print its path')
    args = parser.parse_args()

    with fresh_venv('mmmoga-onedl-', keep=args.keep) as venv:
        start = time.monotonic()
        setup = [venv.python, osp.join(ROOT, 'tools', 'setup_env.py'), '--stack', 'onedl']
        if run(setup, cwd=ROOT, env=venv.env).returncode:
            sys.exit('[test_onedl] ERROR: tools/setup_env.py --stack onedl failed (above)')
        setup_s = time.monotonic() - start

        documented = would_install(venv.python, '--no-deps', '.')
        plain = would_install(venv.python, '.')
        print(f'[test_onedl] pip install --no-deps . would install: {", ".join(documented)}')
        print(f'[test_onedl] control: pip install . would install: {", ".join(plain)}')
        # exactly mmmoga (an empty list would prove nothing); the control must show the problem
        wrong = [] if [d.split()[0] for d in documented] == ['mmmoga'] else documented
        if not any(d.startswith('mmengine ') for d in plain):
            wrong.append('control: pip install . would not install upstream mmengine')

        run([venv.python, '-m', 'mmmoga'], cwd=venv.work, env=venv.env)
        start = time.monotonic()
        status = run([venv.python, '-m', 'pytest', *TESTS, '-q', '-n', '2', '--dist', 'worksteal'],
                     cwd=ROOT,
                     env=venv.env).returncode
        tests_s = time.monotonic() - start

    print(f'[test_onedl] set-up {setup_s / 60:.1f} min, tests {tests_s / 60:.1f} min')
    if wrong:
        print(f'[test_onedl] FAILED: the dry runs are not what docs/setup.md says: {wrong}')
        return 1
    result = 'PASSED' if status == 0 else f'FAILED (pytest exit status {status})'
    print(f'[test_onedl] the task tests on the onedl forks: {result}')
    return status


if __name__ == '__main__':
    sys.exit(main())
