"""The fresh venv of ``make test-min-torch`` and ``make test-onedl``
(``mmmoga.devtools.fresh_venv``)."""
import os.path as osp
import shutil
import subprocess

from mmmoga.devtools.fresh_venv import fresh_venv


def test_a_fresh_venv_runs_its_own_interpreter_and_is_removed_unless_kept(capsys):
    code = 'import os, sys; print(sys.prefix, os.environ.get("PYTHONPATH"))'
    with fresh_venv('mmmoga-test-') as venv:
        out = subprocess.check_output([venv.python, '-c', code], env=venv.env, text=True).split()
        assert out == [osp.join(venv.work, 'venv'), 'None']
        assert venv.env['PATH'].startswith(osp.join(venv.work, 'venv', 'bin'))
    assert not osp.exists(venv.work)
    with fresh_venv('mmmoga-test-', keep=True) as kept:
        pass
    assert osp.isfile(kept.python)
    assert f'venv kept: {osp.join(kept.work, "venv")}' in capsys.readouterr().out
    shutil.rmtree(kept.work)
