"""The command lines of ``tools/`` as the tests use them: loaded as modules, or their ``main()`` run
in this process with ``sys.argv`` set as ``python tools/... argv`` would set it."""
import importlib.util
import os.path as osp
import sys
import uuid

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(script: str):
    """The module of ``script`` (a path relative to the repository root), freshly executed."""
    spec = importlib.util.spec_from_file_location(f'tool_{uuid.uuid4().hex}',
                                                  osp.join(ROOT, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(script: str, argv: list):
    """Run ``script``'s ``main()`` in this process, as ``python script argv`` would."""
    module = load_tool(script)
    old_argv = sys.argv
    sys.argv = [script, *argv]
    try:
        return module.main()
    finally:
        sys.argv = old_argv
