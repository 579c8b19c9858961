"""What the benchmark can measure: our backbones and their peers (mmpretrain, timm), by name.

Our backbones are named as :func:`mmmoga.create_backbone` names them (``moganet_s``,
``hornet_t_7x7``, ``hornet_t_gf``), with ``_ref`` for the official op sequence and ``_cls`` for
the classification form; :func:`canonical_name` also takes hyphens (``moganet-s``) and a
family's default variant left out (``hornet-t`` for ``hornet_t_7x7``).
``BENCHMARK_MODELS[name].build(with_cp)`` builds a model; entries that share a weight layout get
the same weights (:func:`weight_transfer`) for the identical-output check.
"""
import difflib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type

from torch import nn


@dataclass
class Entry:
    """A model of the benchmark.

    ``build(with_cp, channels_last)`` returns the backbone (``channels_last``: the argument of
    our backbones, None for their default; peers have no such argument and ignore it);
    ``weights`` names a weight layout: two entries with the same layout get the same weights
    (:func:`weight_transfer`; a peer from another library brings its ``transfer``, which copies
    its weights into ours) for the identical-output check; ``peer_of`` names the models
    this one is the default peer of; ``cpu_kernels`` / ``gpu_kernels``: whether the model runs
    :mod:`mmmoga.models.layers.cpu_ops` / :mod:`~mmmoga.models.layers.gpu_ops`; ``aliases``:
    other names that :func:`canonical_name` takes for it (besides the hyphenated name).
    """
    name: str
    build: Callable[[bool, Optional[bool]], nn.Module]
    source: str
    description: str
    weights: Optional[str] = None
    label: str = ''
    peer_of: Tuple[str, ...] = ()
    cpu_kernels: bool = False
    gpu_kernels: bool = False
    transfer: Optional[Callable[[nn.Module, nn.Module], None]] = None
    aliases: Tuple[str, ...] = ()


def _mmmoga(backbone: Type[nn.Module], **kwargs) -> Callable[[bool, Optional[bool]], nn.Module]:

    def build(with_cp: bool, channels_last: Optional[bool] = None) -> nn.Module:
        return backbone(with_cp=with_cp, channels_last=channels_last, **kwargs)

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


def arch_names(backbone: Type[nn.Module]) -> List[Tuple[str, str]]:
    """``(short, full)`` name of each arch of a family's ``arch_zoo`` (aliases share a dict), in
    the zoo's order: ``[('xt', 'xtiny'), ('t', 'tiny'), ...]``."""
    names: Dict[int, List[str]] = {}
    for name, arch in backbone.arch_zoo.items():
        names.setdefault(id(arch), []).append(name)
    return [(min(group, key=len), max(group, key=len)) for group in names.values()]


def _family_entries(backbone) -> List[Entry]:
    """Every arch and variant of one of our families, dense (4 outputs), in its classification
    form where it has one, and with ``reference_ops=True`` (the official op sequence) where it
    has kernels to leave; the default variant (no arguments) also under the name without it."""
    entries = []
    family = backbone.__name__.lower()
    reference = backbone.uses_cpu_kernels or backbone.uses_gpu_kernels
    for short, arch in arch_names(backbone):
        for variant, variant_kwargs in backbone.variants.items():
            name = '_'.join(filter(None, (family, short.replace('-', '_'), variant)))
            alias = f'{family}_{short}' if variant and not variant_kwargs else None

            def aliases(suffix: str = '') -> Tuple[str, ...]:
                return (alias + suffix, ) if alias else ()

            label = f'{backbone.__name__}-{short.upper()}' + (f' {variant.upper()}'
                                                              if variant_kwargs else '')
            layout = f'{family}-{{}}' + (f'-{variant}' if variant_kwargs else '')
            kernels = dict(
                cpu_kernels=backbone.uses_cpu_kernels, gpu_kernels=backbone.uses_gpu_kernels)
            dense = dict(arch=arch, out_indices=(0, 1, 2, 3), **variant_kwargs)
            entries.append(
                Entry(
                    name,
                    _mmmoga(backbone, **dense),
                    'mmmoga',
                    f'{label}, 4 outputs',
                    layout.format('dense'),
                    label,
                    aliases=aliases(),
                    **kernels))
            if reference:
                entries.append(
                    Entry(
                        f'{name}_ref',
                        _mmmoga(backbone, reference_ops=True, **dense),
                        'mmmoga',
                        f'{label} computed op by op as the official code writes it (the speed '
                        'reference)',
                        layout.format('dense'),
                        label,
                        peer_of=(name, ),
                        aliases=aliases('_ref')))
            if backbone.classification_form is not None:
                cls = dict(arch=arch, **variant_kwargs, **backbone.classification_form)
                entries.append(
                    Entry(
                        f'{name}_cls',
                        _mmmoga(backbone, **cls),
                        'mmmoga',
                        f'{label}, classification form',
                        layout.format('cls'),
                        label,
                        aliases=aliases('_cls'),
                        **kernels))
    return entries


def _hornet_transfer(layout: str) -> Callable[[nn.Module, nn.Module], None]:

    def transfer(peer: nn.Module, ours: nn.Module) -> None:
        from mmmoga.models.backbones.hornet import convert_hornet_mmpretrain
        state, _ = convert_hornet_mmpretrain(peer.state_dict(), layout=layout)
        ours.load_state_dict(state, strict=True)

    return transfer


def _same_keys(peer: nn.Module, ours: nn.Module) -> None:
    ours.load_state_dict(peer.state_dict(), strict=True)


def _peer_entries() -> List[Entry]:
    """The peers: mmpretrain's HorNet (same weights as ours), timm's InceptionNeXt and ConvNeXt
    (mmpretrain's, and timm's where installed)."""
    entries = []
    four = (0, 1, 2, 3)
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        for mixer, gf in (('7x7', ''), ('gf', '-gf')):
            ours = f'hornet_{short}_{mixer}'
            label = f'mmpretrain HorNet-{short.upper()}{gf.upper()}'
            alias = (f'mmpretrain_hornet_{short}', ) if not gf else ()
            entries += [
                Entry(
                    f'mmpretrain_{ours}',
                    _mmpretrain(
                        'HorNet', arch=arch + gf, out_indices=four, gap_before_final_norm=False),
                    'mmpretrain',
                    f'{label}, 4 normed outputs',
                    f'hornet-dense{gf}',
                    peer_of=(ours, ),
                    transfer=_hornet_transfer('dense'),
                    aliases=alias),
                Entry(
                    f'mmpretrain_{ours}_cls',
                    _mmpretrain(
                        'HorNet', arch=arch + gf, out_indices=(3, ), gap_before_final_norm=True),
                    'mmpretrain',
                    f'{label}, classification trunk',
                    f'hornet-cls{gf}',
                    peer_of=(f'{ours}_cls', ),
                    transfer=_hornet_transfer('cls'),
                    aliases=tuple(a + '_cls' for a in alias)),
            ]
    for short, arch in (('a', 'atto'), ('t', 'tiny'), ('s', 'small'), ('b', 'base')):
        entries.append(
            Entry(
                f'timm_inceptionnext_{short}',
                _timm(f'inception_next_{arch}'),
                'timm',
                f'timm inception_next_{arch}, features_only, 4 outputs',
                peer_of=(f'inceptionnext_{short}', )))
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        convnext = dict(arch=arch, gap_before_final_norm=False, frozen_stages=0)
        entries += [
            Entry(
                f'convnext_{short}',
                _mmpretrain('ConvNeXt', out_indices=four, **convnext),
                'mmpretrain',
                f'mmpretrain ConvNeXt-{short.upper()}, 4 normed outputs',
                peer_of=(f'inceptionnext_{short}', )),
            Entry(
                f'convnext_{short}_cls',
                _mmpretrain(
                    'ConvNeXt', out_indices=(3, ), **dict(convnext, gap_before_final_norm=True)),
                'mmpretrain',
                f'mmpretrain ConvNeXt-{short.upper()}, classification trunk (pooled + final '
                'norm)',
                peer_of=(f'inceptionnext_{short}_cls', )),
            Entry(f'timm_convnext_{short}', _timm(f'convnext_{arch}'), 'timm',
                  f'timm convnext_{arch}, features_only, 4 outputs'),
        ]
    return entries


def benchmark_models() -> Dict[str, Entry]:
    """The benchmark's table: every registered mmmoga backbone family (from its ``arch_zoo``,
    ``variants``, ``classification_form`` and kernels), then the peers."""
    from mmmoga.models.factory import backbone_families
    entries = [e for backbone in backbone_families() for e in _family_entries(backbone)]
    return {entry.name: entry for entry in entries + _peer_entries()}


BENCHMARK_MODELS: Dict[str, Entry] = benchmark_models()


def canonical_name(name: str, what: str = 'model') -> str:
    """The table's name of ``name``: itself, its hyphenated form (``moganet-s``), or an alias
    (``hornet-t`` for ``hornet_t_7x7``). A ``KeyError`` names the closest names and lists the
    valid ones otherwise (``what``: how the message calls the name)."""
    key = name.lower().replace('-', '_')
    if key in BENCHMARK_MODELS:
        return key
    for entry in BENCHMARK_MODELS.values():
        if key in entry.aliases:
            return entry.name
    close = difflib.get_close_matches(key, list(BENCHMARK_MODELS), n=3)
    hint = f'did you mean {", ".join(close)}? ' if close else ''
    raise KeyError(f'unknown {what} {name!r}; {hint}valid choices: '
                   f'{", ".join(sorted(BENCHMARK_MODELS))}')


def list_models() -> None:
    """Print every model of the table with its source and description."""
    for name, entry in BENCHMARK_MODELS.items():
        print(f'{name:32s} {entry.source:10s} {entry.description}')


def uses_cpu_kernels(name: str) -> bool:
    """Whether the model runs :mod:`mmmoga.models.layers.cpu_ops`."""
    return BENCHMARK_MODELS[name].cpu_kernels


def uses_gpu_kernels(name: str) -> bool:
    """Whether the model can run :mod:`mmmoga.models.layers.gpu_ops`."""
    return BENCHMARK_MODELS[name].gpu_kernels


def default_peer(name: str, run: Sequence[str]) -> Optional[str]:
    """The peer a model is compared with when ``--peer`` does not name one (if it is in the run):
    its op-by-op reference, else the first peer of the table."""
    return next(
        (peer.name
         for peer in BENCHMARK_MODELS.values() if name in peer.peer_of and peer.name in run), None)


def weight_transfer(ours: str, peer: str) -> Optional[Callable[[nn.Module, nn.Module], None]]:
    """How ``peer``'s weights are copied into ``ours`` (same weight layout): by key for two of our
    own models, else by the peer's ``transfer``; None where they cannot be."""
    layout = BENCHMARK_MODELS[ours].weights
    if layout is None or layout != BENCHMARK_MODELS[peer].weights:
        return None
    if BENCHMARK_MODELS[ours].source == BENCHMARK_MODELS[peer].source == 'mmmoga':
        return _same_keys
    return BENCHMARK_MODELS[peer].transfer


def build_benchmark_model(name: str,
                          with_cp: bool = False,
                          train: bool = False,
                          channels_last: Optional[bool] = None) -> nn.Module:
    """Build a model of the zoo in train or eval mode (mmpretrain's ``HorNet.train`` returns None,
    so ``.eval()`` is not chained); ``channels_last`` as :class:`Entry` takes it."""
    model = BENCHMARK_MODELS[name].build(with_cp, channels_last)
    model.train(train)
    return model
