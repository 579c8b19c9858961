from .atomic_io import (CheckpointWriteError, NoSpaceForCheckpointError, atomic_torch_save,
                        atomic_write_bytes, atomic_write_text, leftover_temp_files)
from .checkpoint import (CheckpointError, CheckpointNotFoundError, ChecksumError,
                         CorruptCheckpointError, UntrustedCheckpointError, cache_file_name,
                         checkpoint_safe_globals, download_checkpoint, extract_state_dict,
                         file_sha256, load_checkpoint_file, load_state_dict_verbose,
                         register_mmengine_loaders, resolve_checkpoint, trust_checkpoint)
from .data_check import DatasetError, check_dataset_paths, missing_dataset_paths
from .runtime import (DictAction, load_config, plain_checkpoint_hook_warning, setup_cpu_distributed,
                      shut_down_distributed)

__all__ = [
    'CheckpointError', 'CheckpointNotFoundError', 'ChecksumError', 'CorruptCheckpointError',
    'file_sha256', 'UntrustedCheckpointError', 'CheckpointWriteError', 'NoSpaceForCheckpointError',
    'atomic_torch_save', 'atomic_write_bytes', 'atomic_write_text', 'leftover_temp_files',
    'cache_file_name', 'checkpoint_safe_globals', 'download_checkpoint', 'extract_state_dict',
    'load_checkpoint_file', 'load_state_dict_verbose', 'register_mmengine_loaders',
    'resolve_checkpoint', 'trust_checkpoint', 'DatasetError', 'check_dataset_paths',
    'missing_dataset_paths', 'load_config', 'plain_checkpoint_hook_warning',
    'setup_cpu_distributed', 'shut_down_distributed', 'DictAction'
]
