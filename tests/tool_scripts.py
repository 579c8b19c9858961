"""The command lines of ``tools/`` as the tests use them: loaded as modules, or their ``main()`` run
in this process with ``sys.argv`` set as ``python tools/... argv`` would set it; and the config
options that point a toy config at toy data made by the test."""
import importlib.util
import os.path as osp
import sys
import uuid

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


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


def toy_data_options(data_root, coco: bool = True) -> dict:
    """Config options (``merge_from_dict`` keys) that point a toy config at data made under
    ``data_root``: the three loaders' ``data_root`` and, for COCO data, the evaluators'
    annotation file."""
    root = str(data_root).rstrip('/') + '/'
    options = {f'{loader}.dataset.data_root': root for loader in LOADERS}
    if coco:
        ann = osp.join(root, 'annotations/instances_val.json')
        options.update({'val_evaluator.ann_file': ann, 'test_evaluator.ann_file': ann})
    return options


def cfg_options(options: dict) -> list:
    """``options`` as the ``key=value`` words of a command line's ``--cfg-options``."""
    return [f'{key}={value}' for key, value in options.items()]
