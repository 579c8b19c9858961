"""The benchmark's model table: our backbones and their peers (mmpretrain, timm), by name.

``MODEL_ZOO[name].build(with_cp)`` builds a model; entries that share a weight layout get the same
weights through :data:`TRANSFERS` for the identical-output check.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

from torch import nn

FAMILY_LABELS = dict(
    moganet='MogaNet',
    hornet='HorNet',
    conv2former='Conv2Former',
    inceptionnext='InceptionNeXt',
    convnext='ConvNeXt')
#: the directory holding the ``mmmoga`` package (the repository root in a source checkout)
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass
class Entry:
    """A model of the benchmark.

    ``build(with_cp, channels_last)`` returns the backbone (``channels_last``: the argument of
    our backbones, None for their default; peers have no such argument and ignore it);
    ``weights`` names a weight layout: two entries with the same layout get the same weights
    (through :data:`TRANSFERS`) for the identical-output check.
    """
    name: str
    build: Callable[[bool, Optional[bool]], nn.Module]
    source: str
    description: str
    weights: Optional[str] = None


def _mmmoga(cls_name: str, **kwargs) -> Callable[[bool, Optional[bool]], nn.Module]:

    def build(with_cp: bool, channels_last: Optional[bool] = None) -> nn.Module:
        from mmmoga.models import backbones
        return getattr(backbones, cls_name)(with_cp=with_cp, channels_last=channels_last, **kwargs)

    return build


def _mmpretrain(cls_name: str, **kwargs) -> Callable[[bool, Optional[bool]], nn.Module]:

    def build(with_cp: bool, channels_last: Optional[bool] = None) -> nn.Module:
        try:
            from mmpretrain.models import backbones
        except ImportError as error:
            raise RuntimeError(f'mmpretrain is not installed ({error})') from None
        return getattr(backbones, cls_name)(with_cp=with_cp, **kwargs)

    return build


def _timm(model_name: str) -> Callable[[bool, Optional[bool]], nn.Module]:

    def build(with_cp: bool, channels_last: Optional[bool] = None) -> nn.Module:
        try:
            import timm
        except ImportError:
            raise RuntimeError(f'timm is not installed; {model_name} needs it') from None
        model = timm.create_model(
            model_name, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
        if with_cp:
            model.set_grad_checkpointing(True)
        return model

    return build


def _build_zoo() -> Dict[str, Entry]:
    zoo = {}

    def add(name, build, source, description, weights=None):
        zoo[name] = Entry(name, build, source, description, weights)

    four = (0, 1, 2, 3)
    for short, arch in (('xt', 'xtiny'), ('t', 'tiny'), ('s', 'small'), ('b', 'base'),
                        ('l', 'large'), ('xl', 'xlarge')):
        add(f'moganet-{short}', _mmmoga('MogaNet', arch=arch, out_indices=four), 'mmmoga',
            f'MogaNet-{short.upper()}, 4 outputs', 'moganet')
        add(
            f'moganet-{short}-ref',
            _mmmoga('MogaNet', arch=arch, out_indices=four, reference_ops=True), 'mmmoga',
            f'MogaNet-{short.upper()} computed op by op as the official code writes it '
            '(the speed reference)', 'moganet')
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        for mixer in ('dw', 'gf'):
            suffix = '-gf' if mixer == 'gf' else ''
            label = f'HorNet-{short.upper()}{" GF" if suffix else " 7x7"}'
            add(f'hornet-{short}{suffix}', _mmmoga('HorNet', arch=arch, mixer=mixer), 'mmmoga',
                f'{label}, 4 normed outputs', f'hornet-dense{suffix}')
            add(f'hornet-{short}{suffix}-cls',
                _mmmoga('HorNet', arch=arch, mixer=mixer, gap_before_final_norm=True), 'mmmoga',
                f'{label}, classification trunk (pooled + final norm)', f'hornet-cls{suffix}')
            pre_arch = f'{arch}-gf' if suffix else arch
            add(f'mmpretrain-hornet-{short}{suffix}',
                _mmpretrain('HorNet', arch=pre_arch, out_indices=four, gap_before_final_norm=False),
                'mmpretrain', f'mmpretrain {label}, 4 normed outputs', f'hornet-dense{suffix}')
            add(f'mmpretrain-hornet-{short}{suffix}-cls',
                _mmpretrain('HorNet', arch=pre_arch, out_indices=(3, ), gap_before_final_norm=True),
                'mmpretrain', f'mmpretrain {label}, classification trunk', f'hornet-cls{suffix}')
    for short, arch in (('n', 'nano'), ('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l',
                                                                                      'large')):
        add(f'conv2former-{short}', _mmmoga('Conv2Former', arch=arch, out_indices=four), 'mmmoga',
            f'Conv2Former-{short.upper()}, 4 raw outputs')
        add(f'conv2former-{short}-cls',
            _mmmoga('Conv2Former', arch=arch, out_indices=(3, ), with_cls_head=True), 'mmmoga',
            f'Conv2Former-{short.upper()}, classification trunk (head, pooled pre-logits)')
    for short, arch in (('a', 'atto'), ('t', 'tiny'), ('s', 'small'), ('b', 'base')):
        add(f'inceptionnext-{short}', _mmmoga('InceptionNeXt', arch=arch, out_indices=four),
            'mmmoga', f'InceptionNeXt-{short.upper()}, 4 raw outputs')
        add(f'inceptionnext-{short}-cls',
            _mmmoga('InceptionNeXt', arch=arch, out_indices=(3, ), with_cls_head=True), 'mmmoga',
            f'InceptionNeXt-{short.upper()}, classification trunk (MLP head to pre-logits)')
        add(f'timm-inceptionnext-{short}', _timm(f'inception_next_{arch}'), 'timm',
            f'timm inception_next_{arch}, features_only, 4 outputs')
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        add(
            f'convnext-{short}',
            _mmpretrain(
                'ConvNeXt',
                arch=arch,
                out_indices=four,
                gap_before_final_norm=False,
                frozen_stages=0), 'mmpretrain',
            f'mmpretrain ConvNeXt-{short.upper()}, 4 normed outputs')
        add(
            f'convnext-{short}-cls',
            _mmpretrain(
                'ConvNeXt',
                arch=arch,
                out_indices=(3, ),
                gap_before_final_norm=True,
                frozen_stages=0), 'mmpretrain',
            f'mmpretrain ConvNeXt-{short.upper()}, classification trunk (pooled + final norm)')
        add(f'timm-convnext-{short}', _timm(f'convnext_{arch}'), 'timm',
            f'timm convnext_{arch}, features_only, 4 outputs')
    return zoo


MODEL_ZOO: Dict[str, Entry] = _build_zoo()


def uses_cpu_kernels(name: str) -> bool:
    """Whether the model runs :mod:`mmmoga.models.layers.cpu_ops` (MogaNet except the
    ``-ref`` models, Conv2Former, InceptionNeXt; not HorNet or the peers)."""
    family = name.split('-')[0]
    return (MODEL_ZOO[name].source == 'mmmoga' and not name.endswith('-ref')
            and family in ('moganet', 'conv2former', 'inceptionnext'))


def uses_gpu_kernels(name: str) -> bool:
    """Whether the model can run :mod:`mmmoga.models.layers.gpu_ops` (MogaNet except the
    ``-ref`` models, HorNet, Conv2Former; not InceptionNeXt or the peers)."""
    family = name.split('-')[0]
    return (MODEL_ZOO[name].source == 'mmmoga' and not name.endswith('-ref')
            and family in ('moganet', 'hornet', 'conv2former'))


def default_peer(name: str, run: Sequence[str]) -> Optional[str]:
    """The peer a model is compared with when ``--peer`` does not name one (if it is in the run)."""
    candidates = []
    if name.startswith('moganet-') and not name.endswith('-ref'):
        candidates.append(name + '-ref')
    elif name.startswith('hornet-'):
        candidates.append('mmpretrain-' + name)
    elif name.startswith('inceptionnext-'):
        variant, _, cls = name[len('inceptionnext-'):].partition('-')
        if not cls:
            candidates.append(f'timm-inceptionnext-{variant}')
        candidates.append(f'convnext-{variant}' + ('-cls' if cls else ''))
    return next((c for c in candidates if c in run), None)


def _hornet_transfer(layout: str) -> Callable[[nn.Module, nn.Module], None]:

    def transfer(peer: nn.Module, ours: nn.Module) -> None:
        from mmmoga.converters import convert_hornet_mmpretrain
        state, _ = convert_hornet_mmpretrain(peer.state_dict(), layout=layout)
        ours.load_state_dict(state, strict=True)

    return transfer


def _same_keys(peer: nn.Module, ours: nn.Module) -> None:
    ours.load_state_dict(peer.state_dict(), strict=True)


#: weight layout -> copy the peer's weights into ours (for the identical-output check)
TRANSFERS = {
    'moganet': _same_keys,
    'hornet-dense': _hornet_transfer('dense'),
    'hornet-dense-gf': _hornet_transfer('dense'),
    'hornet-cls': _hornet_transfer('cls'),
    'hornet-cls-gf': _hornet_transfer('cls'),
}


def build_model(name: str,
                with_cp: bool = False,
                train: bool = False,
                channels_last: Optional[bool] = None) -> nn.Module:
    """Build a model of the zoo in train or eval mode (mmpretrain's ``HorNet.train`` returns None,
    so ``.eval()`` is not chained); ``channels_last`` as :class:`Entry` takes it."""
    model = MODEL_ZOO[name].build(with_cp, channels_last)
    model.train(train)
    return model
