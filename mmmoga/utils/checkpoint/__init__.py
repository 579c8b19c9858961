"""Checkpoint loading that never runs code from a file, and downloads of the official releases.

By concern: :mod:`.trust` (what a load may unpickle, the opt-in), :mod:`.download` (URLs, cache,
hashes), :mod:`.loading` (files, safetensors, faults, mmengine's loaders) and :mod:`.state_dict`
(unwrapping and reporting keys); :mod:`.errors` holds their errors.

Trust policy
------------
Every checkpoint is loaded with ``torch.load(..., weights_only=True)``. While that one load runs,
and only then, torch's allow-list is widened (``torch.serialization.safe_globals``) by the few
harmless classes the official files contain (:func:`checkpoint_safe_globals`):

* mmengine's training checkpoints (``--resume``, ``load_from``, ``tools/test.py``, the task
  libraries' ``init_detector`` / ``init_model``): mmengine's ``HistoryBuffer``, numpy arrays,
  dtypes and scalars (not object dtypes), and ``builtins.getattr`` **mapped to a restricted
  function** that only returns HistoryBuffer's statistics methods (HistoryBuffer pickles them as
  ``getattr(HistoryBuffer, 'min')``); the real ``getattr`` is never allow-listed;
* the official ImageNet releases (timm's and ConvNeXt's savers): ``argparse.Namespace`` (the
  training arguments under ``args``).

``import mmmoga`` registers :func:`load_checkpoint_file` as mmengine's ``CheckpointLoader`` for
local paths and http(s) URLs (and runs mmengine's other schemes inside the same scoped
allow-list), so every mmengine load takes this route. Nothing process-wide widens what
``torch.load`` accepts.

Anything else in a file (a class or function a weights-only load refuses) raises
:class:`UntrustedCheckpointError`, naming the classes, the file and the opt-in below.

Opt-in for one file (a full unpickle, which can run any code the file contains; logged as a
WARNING):

* backbones: ``init_cfg=dict(type='Pretrained', checkpoint=..., unsafe_unpickle=True)``;
* ``tools/train.py`` / ``tools/test.py`` / ``tools/image_demo.py`` / ``tools/model_converters/*``:
  ``--unsafe-unpickle``, which applies only to the checkpoint named on that command line (the
  ``--resume`` file or ``load_from`` of train.py, the checkpoint of test.py and image_demo.py, the
  source file of a converter);
* in Python: :func:`trust_checkpoint` (``path or URL``), or ``unsafe_unpickle=True`` of
  :func:`load_checkpoint_file`.

Downloads
---------
URLs are downloaded once into ``<torch hub dir>/checkpoints`` (``$TORCH_HOME``), through a
temporary file that is renamed only when complete, under a file name derived from the URL form
(:func:`cache_file_name`): a URL whose release the metafiles list under ``Releases`` is cached
under that record's ``File`` (the official HorNet files behind Tsinghua Cloud share links:
``hornet_small_gf_in1k.pth``); other Seafile share links become ``tsinghua_<id>.pth``; GitHub
releases and other plain URLs keep their file name; Hugging Face
``.../<org>/<repo>/resolve/<rev>/<file>`` becomes ``<repo>_<file>``; ``file://`` URLs are local
paths. A file name carrying a hash in torch hub's convention, ``name-<sha256 prefix>.pth``, is
checked after download; otherwise the download's sha256 is logged. Conv2Former's weights exist only
on Baidu Netdisk share pages: configs point at ``pretrained/conv2former_*.pth`` (the ``File`` of
their release), and a missing file gives an error with the link, the extraction code and where to
save it.

Weights that hold no code
-------------------------
A ``.safetensors`` file (by its name, or by its content under any name) is read with
``safetensors`` and never unpickled; one that is not a valid safetensors file (a pickle renamed, a
truncated copy) raises :class:`CorruptCheckpointError`. ``tools/model_converters/to_safetensors.py``
(:func:`mmmoga.converters.release_to_safetensors`) turns an official release into one.

Hashes
------
A download is checked against a sha256 when one is known: passed in (``sha256=`` of
:func:`load_checkpoint_file`, ``init_cfg=dict(type='Pretrained', checkpoint=..., sha256=...)``,
``create_backbone(..., sha256=...)``) or given for that URL by its release in a metafile
(``SHA256``, and ``Size`` in bytes; :func:`mmmoga.metafiles.find_release`). A download that
differs is refused with :class:`ChecksumError` and nothing is left in the cache; a cached copy that
differs is removed and downloaded again. A local file with a given sha256 is checked too (and kept).

Faults
------
A truncated or corrupt file raises :class:`CorruptCheckpointError`, which names the file and, for a
training checkpoint, the newest complete checkpoint beside it to resume from.
"""
from .download import (cache_file_name, download_checkpoint, file_sha256, known_sha256,
                       resolve_checkpoint)
from .errors import (CheckpointError, CheckpointNotFoundError, ChecksumError,
                     CorruptCheckpointError, UntrustedCheckpointError)
from .loading import is_safetensors_file, load_checkpoint_file, register_mmengine_loaders
from .state_dict import extract_state_dict, load_state_dict_verbose
from .trust import checkpoint_safe_globals, trust_checkpoint

__all__ = [
    'CheckpointError', 'UntrustedCheckpointError', 'CorruptCheckpointError',
    'CheckpointNotFoundError', 'ChecksumError', 'checkpoint_safe_globals', 'trust_checkpoint',
    'cache_file_name', 'file_sha256', 'known_sha256', 'is_safetensors_file', 'download_checkpoint',
    'resolve_checkpoint', 'load_checkpoint_file', 'register_mmengine_loaders', 'extract_state_dict',
    'load_state_dict_verbose'
]
