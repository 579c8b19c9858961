from .checkpoint import (allow_mmengine_checkpoints, extract_state_dict, load_checkpoint_file,
                         load_state_dict_verbose)
from .data_check import check_dataset_paths, missing_dataset_paths
from .runtime import DictAction, load_config, setup_cpu_distributed

__all__ = [
    'allow_mmengine_checkpoints', 'extract_state_dict', 'load_checkpoint_file',
    'load_state_dict_verbose', 'check_dataset_paths', 'missing_dataset_paths', 'load_config',
    'setup_cpu_distributed', 'DictAction'
]
