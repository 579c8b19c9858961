"""The backbones by name, timm-style: :func:`create_backbone` and :func:`list_backbones`.

A name is a metafile ImageNet entry without its ``imagenet_`` prefix (``imagenet_moganet_s`` ->
``moganet_s``, ``imagenet_hornet_t_gf`` -> ``hornet_t_gf``); its released weights (and their
sha256, where a metafile gives one) come from that entry (:func:`mmmoga.metafiles
.released_weights`). Only torch and mmengine are needed (no mmcv, no task library)::

    import torch
    import mmmoga

    model = mmmoga.create_backbone('moganet_s', pretrained=True, out_indices=(1, 2, 3)).eval()
    features = model(torch.rand(1, 3, 224, 224))  # a tuple of NCHW maps
    model.feature_info.channels(), model.feature_info.reduction()  # [128, 320, 512], [8, 16, 32]
"""
import contextlib
import difflib
import fnmatch
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Type, Union

from mmengine.logging import MMLogger

from mmmoga import metafiles
from mmmoga.utils.checkpoint import CheckpointError
from mmmoga.utils.checkpoint.download import release
from . import backbones
from .backbones.base_backbone import BaseBackbone

__all__ = [
    'BACKBONES', 'backbone_families', 'check_name', 'create_backbone', 'list_backbones',
    'backbone_weights'
]


def backbone_families() -> List[Type[BaseBackbone]]:
    """The backbone families registered in mmmoga's model registry (a family registered later,
    e.g. in a test, is listed from then on)."""
    from mmmoga.registry import MODELS
    return [
        cls for cls in MODELS.module_dict.values()
        if isinstance(cls, type) and issubclass(cls, BaseBackbone)
    ]


def _named_models() -> Dict[str, Tuple[str, dict]]:
    """name -> (class name, arguments), from the ``named_models`` of every family."""
    return {
        name: (cls.__name__, dict(arguments))
        for cls in backbone_families()
        for name, arguments in cls.named_models.items()
    }


#: name -> (backbone class name, its arguments); the names are the metafiles' ImageNet entries
BACKBONES: Dict[str, Tuple[str, dict]] = _named_models()
#: arguments the name decides
NAME_ARGUMENTS = ('arch', 'mixer', 'gf_sizes', 'init_cfg')


def list_backbones(filter: str = '', pretrained: bool = False) -> List[str]:
    """The names :func:`create_backbone` takes, sorted; ``filter`` is a shell pattern
    (``'hornet_*'``), ``pretrained=True`` keeps the names whose weights download by URL."""
    names = sorted(n for n in BACKBONES if fnmatch.fnmatch(n, filter or '*'))
    if pretrained:
        names = [n for n in names if _downloadable(backbone_weights(n)[0])]
    return names


def backbone_weights(name: str) -> Tuple[Optional[str], Optional[str]]:
    """The released weights of ``name``, ``(URL, sha256 or None)``, from its metafile entry."""
    check_name(name)
    return metafiles.released_weights(f'imagenet_{name}')


def _downloadable(url: Optional[str]) -> bool:
    """A URL that downloads directly: not a share page with an extraction code."""
    return (bool(url) and url.startswith(('http://', 'https://'))
            and 'Extraction Code' not in release(url))


def check_name(name: str) -> None:
    """A clear error, with the closest names, where ``name`` is not one of
    :func:`list_backbones`."""
    if name in BACKBONES:
        return
    close = difflib.get_close_matches(str(name), BACKBONES, n=3)
    hint = f' Did you mean {", ".join(close)}?' if close else ''
    raise ValueError(f'Unknown backbone {name!r}.{hint} mmmoga.list_backbones() lists the '
                     f'{len(BACKBONES)} names (e.g. moganet_s, hornet_t_gf, conv2former_n, '
                     f'inceptionnext_t).')


def _pretrained_source(name: str, pretrained: Union[bool, str]) -> Tuple[str, Optional[str]]:
    """The checkpoint (path or URL) and sha256 that ``pretrained`` asks for."""
    if pretrained is not True:
        if not isinstance(pretrained, str) or not pretrained:
            raise TypeError(f'pretrained must be False, True (the release of {name}) or a path '
                            f'or URL, got {pretrained!r}')
        return pretrained, None
    url, sha256 = backbone_weights(name)
    record = release(url) if url else {}
    if 'Extraction Code' in record:
        file = record.get('File', 'the file')
        raise CheckpointError(
            f'The {name} weights are published only on a share page ({url}, extraction code '
            f'{record["Extraction Code"]}), which has no direct download. Download {file} by '
            f"hand and pass its path: create_backbone('{name}', pretrained='/path/to/{file}'), "
            f'or convert it first with tools/model_converters/to_safetensors.py.')
    if not url:
        raise CheckpointError(f'{name} has no released weights (its metafile entry '
                              f'imagenet_{name} names none); pass pretrained=<path or URL>.')
    return url, sha256


@contextlib.contextmanager
def _quiet_init() -> Iterator[None]:
    """Keep mmengine's per-parameter init report (INFO) out of the console; warnings (missing or
    unexpected checkpoint keys) still show."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def create_backbone(name: str,
                    pretrained: Union[bool, str] = False,
                    out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                    sha256: Optional[str] = None,
                    **kwargs) -> BaseBackbone:
    """Build a backbone by name, timm-style, with torch and mmengine only.

    Args:
        name: one of :func:`list_backbones` (the metafiles' ImageNet entries without
            ``imagenet_``: ``moganet_s``, ``hornet_t_gf``, ``conv2former_n``,
            ``inceptionnext_b_384``...).
        pretrained: ``False`` (the official init), ``True`` (the release its metafile entry
            names, downloaded once and checked against the metafile's sha256 where one is given),
            or a path or URL: ``.safetensors`` (read without unpickling) or an official
            ``.pth``/``.pth.tar`` (``weights_only=True``; ``state_dict``/``model`` wrappers and
            ``module.``/``backbone.`` prefixes are handled). Classifier keys are dropped.
        out_indices: the stages whose feature maps ``forward`` returns (strides 4, 8, 16, 32).
        sha256: the expected sha256 of the file ``pretrained`` names; a file that differs is
            refused (a download is then not cached).
        **kwargs: further arguments of the backbone class (``drop_path_rate``, ``with_cp``,
            ``frozen_stages``, ``channels_last``...); ``arch``, ``mixer``, ``gf_sizes`` and
            ``init_cfg`` are the name's.

    Returns:
        The backbone, a ``torch.nn.Module`` whose forward returns a tuple of NCHW feature maps,
        described by its ``feature_info`` (``num_chs`` and ``reduction`` of each output).
    """
    check_name(name)
    taken = sorted(set(kwargs) & set(NAME_ARGUMENTS))
    if taken:
        raise TypeError(f'create_backbone({name!r}) sets {", ".join(taken)} itself; pick the name '
                        f'with the variant you want (mmmoga.list_backbones()), or build the class '
                        f'(mmmoga.models.{BACKBONES[name][0]}) directly')
    class_name, arguments = BACKBONES[name]
    if pretrained is not False:  # else the class's own init_cfg: the official init
        checkpoint, known = _pretrained_source(name, pretrained)
        kwargs['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint, sha256=sha256 or known)
    model = getattr(backbones, class_name)(**arguments, out_indices=out_indices, **kwargs)
    if any(p.is_meta for p in model.parameters()):
        if pretrained is not False:
            raise ValueError(f'create_backbone({name!r}) was called under the meta device, which '
                             f'holds no values: build it on a real device to load weights')
        return model  # the structure only (e.g. to count parameters): nothing to initialise
    with _quiet_init():
        model.init_weights()
    return model
