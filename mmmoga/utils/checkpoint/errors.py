"""The errors of checkpoint loading, and the opt-in every refusal names."""
import pickle

OPT_IN_HELP = (
    'If you trust this file, opt in to a full unpickle of this one file (it can run any code the '
    'file contains): init_cfg=dict(type=\'Pretrained\', checkpoint=..., unsafe_unpickle=True) '
    'for a backbone, or --unsafe-unpickle on tools/train.py, tools/test.py, tools/image_demo.py '
    'or a converter in tools/model_converters (it applies only to the checkpoint named on that '
    'command line).')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the fix."""


class UntrustedCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file pickles classes or functions outside the weights-only allow-list."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, corrupt, or not a checkpoint at all."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class ChecksumError(CheckpointError):
    """The file's sha256 is not the one expected for it."""
