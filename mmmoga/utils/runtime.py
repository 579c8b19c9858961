"""What tools/train.py and tools/test.py do to a config before handing it to mmengine's Runner."""
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported for tools)

from mmmoga.task_libraries import base_config_error, check_config

__all__ = [
    'load_config', 'setup_cpu_distributed', 'shut_down_distributed',
    'plain_checkpoint_hook_warning', 'DictAction'
]


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none',
                work_dir: Optional[str] = None) -> Config:
    """Read a config, apply ``--cfg-options``, and set launcher and work_dir (default:
    ``work_dirs/<config name>``), as OpenMMLab's own tools do."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:  # mmengine reports it for '<unknown>'
        raise SyntaxError(f'Config file {path} is not valid Python: {err.msg} (line {err.lineno}: '
                          f'{(err.text or "").strip()!r})') from None
    except ModuleNotFoundError as err:  # a `mmdet::`-style base of a library not installed
        missing = base_config_error(err, path)
        if missing is None:
            raise
        raise missing from None
    check_config(cfg, path)  # a type of a part left out for want of its task library
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    if launcher == 'pytorch' and not torch.cuda.is_available():
        setup_cpu_distributed(cfg)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Make a ``--launcher pytorch`` run work on machines without a GPU: gloo process group
    (mmengine's init calls ``torch.cuda.set_device``) and a DDP wrapper without ``device_ids``."""
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'CPUDistributedDataParallel')
    if wrapper['type'] in ('MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel'):
        wrapper['type'] = 'CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    os.environ.setdefault('LOCAL_RANK', '0')


def shut_down_distributed() -> None:
    """Destroy the process group at the end of a successful run, once every rank got there (a
    barrier first: no rank tears its connections down while another still talks to it). Left to
    interpreter exit, gloo's worker threads can outlive it and abort the process (``terminate
    called without an active exception``, SIGABRT), failing a finished run."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def plain_checkpoint_hook_warning(cfg: Config) -> Optional[str]:
    """A warning when the config saves checkpoints with mmengine's own ``CheckpointHook``.

    That hook deletes the checkpoint falling out of ``max_keep_ckpts`` before it writes the new one
    straight into its final name, so a kill during the write can leave no complete checkpoint.
    Every config in ``configs/`` uses ``AtomicCheckpointHook`` instead; ``None`` for those.
    """
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook or not isinstance(hook, dict):
        return None
    if str(hook.get('type', '')).rpartition('.')[2] != 'CheckpointHook':
        return None
    keep = hook.get('max_keep_ckpts', -1)
    risk = (f'it removes the oldest checkpoint before writing the new one into its final name, so '
            f'with max_keep_ckpts={keep} a kill during that write can leave no complete checkpoint'
            if keep and keep > 0 else 'it writes into the final file name, so a kill during a save '
            'leaves a truncated checkpoint')
    return (f'default_hooks.checkpoint is mmengine\'s CheckpointHook: {risk}. Set '
            f'default_hooks.checkpoint.type=\'AtomicCheckpointHook\' (mmmoga) for atomic, ordered '
            f'writes.')
