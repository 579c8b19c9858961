import contextlib
import difflib
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                     load_state_dict_verbose)
from ..layers import build_out_norm, checkpoint_block, kernels_off
from ..layers.switch import measured_for, tracing


def convnext_layer_id(stage: int,
                      block: Optional[int],
                      num_layers: int,
                      decay_type: str = 'layer_wise',
                      cap: bool = False) -> int:
    """mmdet/mmseg's ConvNeXt layer ids, for downsampler ``stage`` (``block=None``) or block
    ``block`` of ``stage``.

    layer_wise: downsamplers 0, 2, 3, ``num_layers``; blocks of stages 0, 1 -> 1, 2; stage 2 ->
    ``3 + block // 3``; stage 3 -> ``num_layers``. stage_wise: downsamplers 0, stage ``i`` ->
    ``i + 1``. mmdet does not cap stage 2; ``cap=True`` keeps its ids below ``num_layers`` so
    that deep stage-2s (Conv2Former-S/B) never train faster than stage 3.
    """
    if decay_type not in ('layer_wise', 'stage_wise'):
        raise ValueError(f"decay_type must be 'layer_wise' or 'stage_wise', got {decay_type!r}")
    if decay_type == 'stage_wise':
        return 0 if block is None else stage + 1
    if stage == 3:
        return num_layers
    if block is None:
        return (0, 2, 3)[stage]
    if stage == 2:
        layer_id = 3 + block // 3
        return min(layer_id, num_layers - 1) if cap else layer_id
    return stage + 1


class FeatureInfo(list):
    """What a backbone's forward returns, one dict per output, timm's ``feature_info`` style:
    ``num_chs`` (channels), ``reduction`` (the input size over the feature map's size; ``None`` for
    a pooled ``(N, C)`` vector) and ``stage`` (the stage index it comes from)."""

    def channels(self) -> List[int]:
        return [info['num_chs'] for info in self]

    def reduction(self) -> List[Optional[int]]:
        return [info['reduction'] for info in self]


class BaseBackbone(BaseModule):
    """What every mmmoga backbone shares.

    * named variants: ``arch_zoo`` maps names and aliases to arch dicts; a custom dict needs exactly
      ``arch_keys``;
    * ``out_indices`` / ``frozen_stages`` / ``norm_eval`` semantics (mmpretrain/mmdet conventions:
      ``frozen_stages=k`` freezes the stem and stages ``0..k`` and keeps them in eval mode, also
      after ``.train()``; ``-1`` freezes nothing);
    * ``channels_last``: the input is converted to the channels-last memory layout, so every layer
      computes in it; the outputs are handed back contiguous in the standard layout, because
      custom ops downstream read raw NCHW memory (mmcv's RoIAlign on CPU returns wrong features
      for channels-last maps, silently). The function and the parameters are the same;
    * ``reference_ops=True``: the official op sequence, as the reference of the speed benchmark and
      of the tests: the forward (and the recomputation of ``with_cp`` blocks) runs with
      :mod:`~mmmoga.models.layers.cpu_ops` and :mod:`~mmmoga.models.layers.gpu_ops` switched off
      (:func:`~mmmoga.models.layers.kernels_off`, for the forward's context); a family with a
      fast path of its own (MogaNet's folded scales) leaves it too. ``False``: the family's own
      fast ops wherever they apply. The same function and parameters within fp32 rounding;
    * **defaults by measurement**: ``channels_last=None`` and ``reference_ops=None`` (the
      defaults) compute channels-last, and with the family's own fast ops, only on the device
      types and compute dtypes (the autocast dtype, else the input's) where a measurement showed
      them faster: :attr:`measured_channels_last` and :attr:`measured_fast_ops`. Everywhere else
      a backbone computes what the official code computes (NCHW, the official op sequence). The
      kernels follow their own switches: the CPU ones (measured) on, the Triton ones off unless
      switched on (:func:`~mmmoga.models.layers.gpu_kernels`);
    * ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads an official release as it is:
      wrappers (``state_dict``/``model``/``state_dict_ema``) and ``module.``/``backbone.`` prefixes
      are unwrapped, classifier keys dropped, and missing/unexpected keys reported by name. Files
      load with ``weights_only=True`` (:mod:`mmmoga.utils.checkpoint`), ``.safetensors`` files
      with safetensors (never unpickled); ``sha256=`` in the ``init_cfg`` checks the file;
      ``unsafe_unpickle=True`` opts in to a full unpickle of that one (pickle) file;
    * ``feature_info``: channels and reduction of each output (timm's convention);
    * the shared parts of building and running the outputs: :meth:`drop_path_rates`, and for the
      families with ``out_norm_cfg`` and ``with_cls_head`` (MogaNet has neither: its stage norms
      ``norm{i + 1}`` are official keys) :meth:`set_cls_head`, :meth:`add_out_norms`,
      :meth:`stage_output` and :meth:`output_modules`.

    * one :meth:`forward` for every family: the input checked and laid out, the stages run one by
      one (:meth:`forward_stage`), the outputs handed back; arguments a family does not take are
      refused by name (:meth:`argument_error`, with the argument to write instead for other
      libraries' names: :attr:`renamed_arguments`).

    Subclasses set ``arch_zoo``, ``arch_keys`` and ``num_stages``, implement
    :meth:`forward_stage` and :meth:`stage_modules`, and pass their other keyword arguments
    (``**kwargs``) on to ``BaseBackbone.__init__``.
    """
    arch_zoo: Dict[str, dict] = {}
    arch_keys: frozenset = frozenset()
    #: key prefixes of the official checkpoint's classifier that the backbone does not hold
    #: (dropped when a release loads); in the classification form, the one final classifier layer
    #: (which :class:`~mmmoga.models.classifiers.OfficialImageClassifier` maps to ``head.fc``)
    classifier_prefixes: tuple = ('head.', )
    #: keys a backbone has that no ImageNet checkpoint holds (reported at INFO level when missing)
    fresh_prefixes: tuple = ()
    num_stages: int = 4
    #: where ``channels_last=None`` computes channels-last: device type -> the compute dtypes
    #: (``'fp32'``, ``'bf16'``, ``'fp16'``; ``'*'`` for all) where a measurement showed the family
    #: faster channels-last than channels-first. Each entry is a measurement in docs (CPU:
    #: docs/gpu.md "Layout defaults"; CUDA: docs/gpu.md "Defaults on CUDA", checked by the tests).
    #: CPU, 2 cores, 224, batch 2, median of 3 rounds, channels-last over channels-first:
    #: MogaNet-S 1.41x inference / 1.19x training, InceptionNeXt-T 1.30x / 0.96x, Conv2Former-T
    #: 1.03x / 1.03x; HorNet sets its own.
    measured_channels_last: Dict[str, Tuple[str, ...]] = {'cpu': ('*', )}
    #: where ``reference_ops=None`` takes the family's own fast ops (the CPU kernels of
    #: :mod:`~mmmoga.models.layers.cpu_ops`, MogaNet's folded scales) rather than the official op
    #: sequence, in the same form as :attr:`measured_channels_last`
    measured_fast_ops: Dict[str, Tuple[str, ...]] = {'cpu': ('*', )}
    #: named variants built from every arch, name -> arguments (the one without arguments is the
    #: default, named ``''`` where the family has one kind): HorNet's ``7x7`` and ``gf`` mixers
    variants: Dict[str, dict] = {'': {}}
    #: the arguments that build the classification form (the official classifier's trunk, which
    #: :class:`~mmmoga.models.classifiers.OfficialImageClassifier` completes); None: no such form
    classification_form: Optional[dict] = None
    #: the names :func:`mmmoga.create_backbone` builds (the family's ImageNet entries of its
    #: metafile, without ``imagenet_``, where the released weights are named) -> the arguments
    #: of each
    named_models: Dict[str, dict] = {}
    #: whether the family's layers run :mod:`mmmoga.models.layers.cpu_ops` /
    #: :mod:`~mmmoga.models.layers.gpu_ops` (the benchmark's kernel settings apply to them)
    uses_cpu_kernels: bool = False
    uses_gpu_kernels: bool = False
    #: arguments of another name in other libraries -> what to write here (a clear error instead
    #: of "unexpected keyword argument")
    renamed_arguments: Dict[str, str] = {}
    #: the attribute holding the classification form's head (:meth:`set_cls_head`); None: a
    #: head without parameters
    cls_head_name: Optional[str] = 'head'

    def __init__(self,
                 *,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 init_cfg: Union[dict, List[dict], None] = None,
                 channels_last: Optional[bool] = None,
                 reference_ops: Optional[bool] = None,
                 **unknown):
        if unknown:
            raise self.argument_error(sorted(unknown)[0])
        super().__init__(init_cfg=init_cfg)
        self.out_indices = self.parse_out_indices(out_indices)
        if not -1 <= frozen_stages < self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages - 1}] '
                             f'(-1 freezes nothing), got {frozen_stages}')
        if channels_last not in (None, True, False):
            raise ValueError(f'channels_last must be True, False or None (the fastest measured '
                             f'layout of the input\'s device), got {channels_last!r}')
        if reference_ops not in (None, True, False):
            raise ValueError(f'reference_ops must be True (the official op sequence), False (the '
                             f'family\'s fast ops) or None (the faster measured of the two on the '
                             f'input\'s device and dtype), got {reference_ops!r}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.channels_last = channels_last
        self.reference_ops = reference_ops

    @classmethod
    def argument_error(cls, name: str) -> TypeError:
        """The error for an argument ``name`` the family does not take: what to write instead
        (:attr:`renamed_arguments`), else the closest of its arguments."""
        if name in cls.renamed_arguments:
            return TypeError(f'{cls.__name__} has no argument {name!r}: write '
                             f'{cls.renamed_arguments[name]}')
        valid = [
            argument for owner in cls.__mro__ if issubclass(owner, BaseBackbone)
            for argument, p in inspect.signature(owner.__init__).parameters.items()
            if argument != 'self' and p.kind is not p.VAR_KEYWORD
        ]
        close = difflib.get_close_matches(name, valid, n=1)
        hint = f'; did you mean {close[0]!r}?' if close else ''
        return TypeError(f'{cls.__name__} got an unexpected argument {name!r}{hint} (its '
                         f'arguments: {", ".join(sorted(set(valid)))})')

    def computes_channels_last(self, x: torch.Tensor) -> bool:
        """Whether the forward converts the input ``x`` to channels-last (under the current
        autocast state: see :attr:`measured_channels_last`)."""
        if self.channels_last is None:
            return measured_for(self.measured_channels_last, x)
        return self.channels_last

    def uses_fast_ops(self, x: torch.Tensor) -> bool:
        """Whether the forward of ``x`` takes the family's own fast ops (see
        :attr:`measured_fast_ops`) rather than the official op sequence."""
        if self.reference_ops is None:
            return measured_for(self.measured_fast_ops, x)
        return not self.reference_ops

    def forward(self, x: torch.Tensor) -> tuple:
        """The outputs of the stages in ``out_indices``, NCHW (the one forward of every family).

        The input is checked (eager mode) and converted to channels-last where
        :meth:`computes_channels_last` says so; the stages run one by one
        (:meth:`forward_stage`) up to the last output, under
        :func:`~mmmoga.models.layers.kernels_off` for ``reference_ops=True``; each output is
        :meth:`stage_output` of its stage, handed back contiguous in the standard layout."""
        self.check_input(x)
        channels_last = self.computes_channels_last(x)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        outs = []
        with kernels_off() if self.reference_ops and not tracing() else contextlib.nullcontext():
            for i in range(self.out_indices[-1] + 1):
                x = self.forward_stage(i, x)
                if i in self.out_indices:
                    outs.append(self.stage_output(i, x))
        if channels_last:
            outs = [out.contiguous() for out in outs]
        return tuple(outs)

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``index`` (stage 0 with the stem): its downsampling, then its blocks
        (:meth:`run_blocks`)."""
        raise NotImplementedError

    def check_input(self, x) -> None:
        """Name the problem when ``x`` is not an image batch the stem accepts (eager mode only:
        exported and compiled graphs stay free of the checks)."""
        if tracing():
            return
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f'{name} expects a batch of images shaped (N, C, H, W), got {got}; '
                             f'add the batch dimension with x[None] for a single image.')
        stem = next((m for m in self.modules() if isinstance(m, nn.Conv2d)), None)
        if stem is not None and x.shape[1] != stem.in_channels:
            raise ValueError(f'{name} was built for {stem.in_channels} input channels '
                             f'(in_channels={stem.in_channels}), got an input with {x.shape[1]} '
                             f'channels (shape {tuple(x.shape)}); set in_channels or convert the '
                             f'images.')

    @staticmethod
    def drop_path_rates(rate: float, depths: Sequence[int]) -> List[List[float]]:
        """Stochastic depth of each block, per stage: rising linearly from 0 at the first block to
        ``rate`` at the last (the official rule of all four families)."""
        if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f'drop_path_rate must be a number in [0, 1) (the stochastic depth '
                             f'of the last block), got {rate!r}')
        # explicit CPU device: python floats also when the model is built under a meta device
        rates = torch.linspace(0, rate, sum(depths), device='cpu').tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        return [rates[start:start + depth] for start, depth in zip(starts, depths)]

    def set_cls_head(self, with_cls_head: bool) -> None:
        """Set ``with_cls_head``: the classification form returns the pooled output of the
        family's classification head (:attr:`cls_head_name`, :meth:`pooled_output`) in place of
        the last stage's, so ``out_indices`` must hold the last stage."""
        last = self.num_stages - 1
        if with_cls_head and last not in self.out_indices:
            raise ValueError(f'with_cls_head=True returns the pooled classification-head output '
                             f'as the stage-{last} output: out_indices must include {last}, got '
                             f'{self.out_indices}')
        self.with_cls_head = with_cls_head

    def add_out_norms(self, out_norm_cfg: Optional[dict]) -> None:
        """Add a norm ``norm{i}`` (:func:`~mmmoga.models.layers.build_out_norm`) for every dense
        output ``i``; ``None`` adds none."""
        if out_norm_cfg is None:
            return
        for i in self.out_indices:
            if not self.output_is_pooled(i):
                self.add_module(f'norm{i}', build_out_norm(out_norm_cfg, self.embed_dims[i]))

    def stage_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """What :meth:`forward` returns for stage ``index``: the pooled classification output, or
        the stage's features through their norm where :meth:`add_out_norms` added one."""
        if self.output_is_pooled(index):
            return self.pooled_output(x)
        norm = getattr(self, f'norm{index}', None)
        return x if norm is None else norm(x).contiguous()

    def output_modules(self, index: int) -> List[nn.Module]:
        """The modules :meth:`stage_output` runs for stage ``index`` (frozen with the stage)."""
        norm = getattr(self, f'norm{index}', None)
        modules = [] if norm is None else [norm]
        if self.output_is_pooled(index) and self.cls_head_name is not None:
            modules.append(getattr(self, self.cls_head_name))
        return modules

    def pooled_output(self, x: torch.Tensor) -> torch.Tensor:
        """The classification form's ``(N, C)`` output from the last stage's features."""
        raise NotImplementedError(f'{type(self).__name__} has no classification head')

    @classmethod
    def parse_arch(cls, arch: Union[str, dict]) -> dict:
        """Return the arch dict of a variant name/alias, or check a custom dict."""
        if isinstance(arch, str):
            key = arch.lower()
            if key not in cls.arch_zoo:
                raise ValueError(f'Unknown {cls.__name__} arch {arch!r}. Valid names: '
                                 f'{sorted(cls.arch_zoo)}; or pass a dict with keys '
                                 f'{sorted(cls.arch_keys)}.')
            return dict(cls.arch_zoo[key])
        if isinstance(arch, dict):
            if set(arch) != set(cls.arch_keys):
                raise ValueError(f'A custom {cls.__name__} arch needs exactly the keys '
                                 f'{sorted(cls.arch_keys)}, got {sorted(arch)}.')
            lengths = {k: len(v) for k, v in arch.items() if isinstance(v, (list, tuple))}
            if any(n != cls.num_stages for n in lengths.values()):
                raise ValueError(f'Each per-stage entry of a custom {cls.__name__} arch needs '
                                 f'{cls.num_stages} values, got lengths {lengths}.')
            for key, values in arch.items():
                numbers = values if isinstance(values, (list, tuple)) else [values]
                if any(
                        isinstance(v, (int, float)) and (v < 0 or (v == 0 and key == 'embed_dims'))
                        for v in numbers):
                    raise ValueError(f'{key} of a custom {cls.__name__} arch must be positive, '
                                     f'got {values}.')
            return dict(arch)
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')

    @classmethod
    def parse_out_indices(cls, out_indices: Union[int, Sequence[int]]) -> tuple:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if (not isinstance(out_indices, (list, tuple)) or not out_indices
                or not all(isinstance(i, int) for i in out_indices)):
            raise ValueError(f'out_indices must be a stage index or a non-empty sequence of stage '
                             f'indices in [0, {cls.num_stages - 1}], got {out_indices!r}')
        parsed = []
        for index in out_indices:
            if not -cls.num_stages <= index < cls.num_stages:
                raise ValueError(f'out_indices must be stage indices in [0, {cls.num_stages - 1}] '
                                 f'(or negative from the end), got {tuple(out_indices)}')
            parsed.append(index % cls.num_stages)
        return tuple(sorted(set(parsed)))

    def stage_modules(self, index: int) -> List[nn.Module]:
        """The modules of stage ``index``; stage 0 includes the stem."""
        raise NotImplementedError

    @property
    def feature_info(self) -> FeatureInfo:
        """Channels and reduction of each output of :meth:`forward` (see :class:`FeatureInfo`)."""
        return FeatureInfo(
            dict(
                num_chs=self.output_channels(i),
                reduction=None if self.output_is_pooled(i) else 2**(i + 2),
                stage=i) for i in self.out_indices)

    def output_channels(self, index: int) -> int:
        """Channels of the output of stage ``index`` (the stage width unless overridden)."""
        return self.embed_dims[index]

    def output_is_pooled(self, index: int) -> bool:
        """Whether stage ``index`` returns a pooled ``(N, C)`` vector: the last stage of a
        backbone built ``with_cls_head`` (classification mode)."""
        return getattr(self, 'with_cls_head', False) and index == self.num_stages - 1

    def get_layer_id(self, param_name: str, num_layers: int, decay_type: str = 'layer_wise') -> int:
        """Layer id of a parameter for layer-wise LR decay, following the family's official rules.

        Args:
            param_name: parameter name relative to this backbone (no ``backbone.`` prefix).
            num_layers: the ``num_layers`` of the decay config (ids run 0..num_layers + 1; the
                optimizer constructor scales the LR by ``decay_rate ** (num_layers + 1 - id)``).
            decay_type: ``'layer_wise'`` or ``'stage_wise'``.
        """
        raise NotImplementedError(f'{type(self).__name__} has no layer-wise LR decay rules')

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """``(layer id, number of ids)`` of a parameter, as mmpretrain's
        ``LearningRateDecayOptimWrapperConstructor`` asks it (LR scale ``layer_decay_rate **
        (number - id - 1)``). The ids are :meth:`get_layer_id`'s, layer-wise, with ConvNeXt's
        ``num_layers`` (12 where the third stage has more than 9 blocks, else 6), so the scales are
        those of mmmoga's ``BackboneLayerDecayOptimWrapperConstructor`` with that ``num_layers``.
        A parameter outside ``prefix`` (``'backbone.'`` in a classifier: its head) gets scale 1."""
        num_layers = 12 if self.arch_settings['depths'][2] > 9 else 6
        if not param_name.startswith(prefix):
            return num_layers + 1, num_layers + 2
        return self.get_layer_id(param_name[len(prefix):], num_layers), num_layers + 2

    def run_blocks(self, blocks: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Run a stage's blocks, checkpointing each block's activations when ``with_cp``."""
        for block in blocks:
            if self.with_cp and torch.is_grad_enabled():
                x = checkpoint_block(block, x)
            else:
                x = block(x)
        return x

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            for module in self.stage_modules(i):
                module.eval()
                for param in module.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True) -> 'BaseBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def filter_checkpoint(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Adapt an official state dict to this module (default: drop the classifier)."""
        return {k: v for k, v in state_dict.items() if not k.startswith(self.classifier_prefixes)}

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            logger = MMLogger.get_current_instance()
            if not cfg.get('checkpoint'):
                raise ValueError(f"init_cfg=dict(type='Pretrained') of {type(self).__name__} needs "
                                 f"checkpoint=<path or URL>, got {cfg}")
            source = cfg['checkpoint']
            checkpoint = load_checkpoint_file(
                source,
                logger=logger,
                unsafe_unpickle=cfg.get('unsafe_unpickle', False),
                sha256=cfg.get('sha256'))
            state_dict = extract_state_dict(
                checkpoint, prefix=cfg.get('prefix'), use_ema=cfg.get('use_ema', False))
            state_dict = self.filter_checkpoint(state_dict)
            load_state_dict_verbose(
                self, state_dict, source, ignore_missing=self.fresh_prefixes, logger=logger)
            self._is_init = True
            return
        super().init_weights()
