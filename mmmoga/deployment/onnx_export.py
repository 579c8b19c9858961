"""ONNX export of a config's backbone (or whole ImageNet classifier), checked with onnxruntime.

The exported graph takes a normalised ``(N, 3, H, W)`` image batch (the data preprocessor's mean /
std and channel order are not part of it) with a dynamic batch size, height and width, and returns
the backbone's outputs (``output0`` .. ``output3`` for the four stages) or the classifier's logits
(``logits``). HorNet's global filter, whose FFT has no ONNX operator, is exported through its exact
DFT-as-matrix-products path (:func:`mmmoga.models.layers.dft.global_filter_dft`), switched on only
while exporting; PyTorch keeps using ``torch.fft``.
"""
import contextlib
import os
import os.path as osp
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from torch import nn

__all__ = ['build_exportable', 'export_onnx', 'check_onnx', 'fft_as_matmul']

PARTS = ('auto', 'backbone', 'classifier')


class _Outputs(nn.Module):
    """Wraps a backbone or classifier so that the graph returns a flat tuple of tensors."""

    def __init__(self, model: nn.Module, classifier: bool):
        super().__init__()
        self.model = model
        self.classifier = classifier

    def forward(self, x: torch.Tensor):
        if self.classifier:
            return self.model(x, mode='tensor')
        outs = self.model(x)
        return tuple(outs) if isinstance(outs, (tuple, list)) else outs


def _load_weights(model: nn.Module, checkpoint: str, unsafe_unpickle: bool) -> None:
    from mmmoga.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         load_state_dict_verbose)
    state = extract_state_dict(
        load_checkpoint_file(checkpoint, unsafe_unpickle=unsafe_unpickle), prefix='')
    if hasattr(model, 'backbone') and not any(k.startswith('backbone.') for k in state):
        load_state_dict_verbose(model.backbone, state, checkpoint)  # a backbone-only file
    else:
        load_state_dict_verbose(model, state, checkpoint)


def build_exportable(config: str,
                     checkpoint: Optional[str],
                     part: str = 'auto',
                     fuse: bool = False,
                     unsafe_unpickle: bool = False) -> Tuple[nn.Module, str]:
    """Build the model of ``config``, load ``checkpoint`` and return ``(module, part)``.

    Args:
        config: an mmmoga (or OpenMMLab) config file.
        checkpoint: a training checkpoint of the whole model (``backbone.*`` keys) or a
            backbone-only file (e.g. an official release), loaded without running code
            (``weights_only``); None keeps the freshly initialised weights.
        part: ``'backbone'``, ``'classifier'`` (the whole mmpretrain ``ImageClassifier``, logits)
            or ``'auto'``: the classifier for ImageNet configs, else the backbone.
        fuse: fold BNs and scales into the convs first (:func:`mmmoga.models.fuse_for_inference`).
        unsafe_unpickle: allow a full unpickle of ``checkpoint`` (runs any code it contains).
    """
    if part not in PARTS:
        raise ValueError(f'part must be one of {PARTS}, got {part!r}')
    if not osp.isfile(config):
        raise FileNotFoundError(f'config not found: {config}')
    from mmengine.registry import MODELS, init_default_scope

    import mmmoga  # noqa: F401  (registers the models)
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmmoga'))
    model_cfg = cfg.model.copy()
    model_cfg.pop('data_preprocessor', None)
    model = MODELS.build(model_cfg)
    try:
        from mmpretrain.models import ImageClassifier
        is_classifier = isinstance(model, ImageClassifier)
    except ImportError:
        is_classifier = False
    if part == 'auto':
        part = 'classifier' if is_classifier else 'backbone'
    if part == 'classifier' and not is_classifier:
        raise ValueError(f'part="classifier" needs an ImageNet (mmpretrain ImageClassifier) '
                         f'config; {config} builds a {type(model).__name__}: export its backbone')
    if checkpoint is not None:
        _load_weights(model, checkpoint, unsafe_unpickle)
    module = model if part == 'classifier' else getattr(model, 'backbone', model)
    module.eval()
    if fuse:
        from mmmoga.models import fuse_for_inference
        fuse_for_inference(module)
    return _Outputs(module, part == 'classifier').eval(), part


@contextlib.contextmanager
def fft_as_matmul(model: nn.Module) -> Iterator[int]:
    """Switch every HorNet global filter of ``model`` to its DFT-as-matmul path for the duration
    (yields how many were switched)."""
    from mmmoga.models.layers import GlobalLocalFilter
    filters = [m for m in model.modules() if isinstance(m, GlobalLocalFilter)]
    for module in filters:
        module.fft_as_matmul = True
    try:
        yield len(filters)
    finally:
        for module in filters:
            del module.fft_as_matmul  # back to the class default (torch.fft)


def _output_names(module: nn.Module, size: Tuple[int, int]) -> List[str]:
    with torch.no_grad():
        outs = module(torch.zeros(1, 3, *size))
    if isinstance(outs, torch.Tensor):
        return ['logits' if module.classifier else 'output0']
    return [f'output{i}' for i in range(len(outs))]


def export_onnx(module: nn.Module,
                path: str,
                size: Tuple[int, int] = (224, 224),
                opset: int = 17) -> List[str]:
    """Export ``module`` (from :func:`build_exportable`) to ``path`` with dynamic batch, height
    and width, tracing at ``size`` (in eval mode); returns the output names."""
    module.eval()
    names = _output_names(module, size)
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    axes.update({
        name: {
            0: 'batch'
        } if name == 'logits' else {
            0: 'batch',
            2: f'{name}_height',
            3: f'{name}_width'
        }
        for name in names
    })
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with fft_as_matmul(module) as filters, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # the tracer's and the legacy exporter's warnings
        torch.onnx.export(
            module, (torch.zeros(1, 3, *size), ),
            path,
            dynamo=False,
            input_names=['input'],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset)
    MMLogger.get_current_instance().info(f'exported {path} (opset {opset}, outputs {names}' + (
        f', {filters} global filters as DFT matrix products)' if filters else ')'))
    return names


def check_onnx(module: nn.Module,
               path: str,
               sizes: Sequence[Tuple[int, int]],
               batch: int = 1,
               tolerance: float = 1e-4,
               seed: int = 0) -> List[Dict]:
    """Run the exported model with onnxruntime (CPU) at each ``(H, W)`` of ``sizes`` and compare
    with PyTorch (``module`` as it runs for inference, FFTs included).

    Returns one dict per size with ``max_abs_diff``, ``max_abs_output`` and ``relative`` (the
    largest ``max |onnx - torch| / max |torch|`` over the outputs).

    Raises:
        ValueError: an output differs by more than ``tolerance`` (relative to the output's
            magnitude, at least 1), or has another shape.
    """
    import onnxruntime
    module.eval()
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    generator = torch.Generator().manual_seed(seed)
    results = []
    for size in sizes:
        x = torch.randn(batch, 3, *size, generator=generator)
        with torch.no_grad():
            refs = module(x)
        refs = [refs] if isinstance(refs, torch.Tensor) else list(refs)
        outs = session.run(None, {'input': x.numpy()})
        diff = scale = relative = 0.
        for name, ref, out in zip([o.name for o in session.get_outputs()], refs, outs):
            out = torch.from_numpy(out)
            if out.shape != ref.shape:
                raise ValueError(f'{path}: {name} has shape {tuple(out.shape)} in onnxruntime but '
                                 f'{tuple(ref.shape)} in PyTorch at input {size}')
            d, s = (out - ref).abs().max().item(), ref.abs().max().item()
            diff, scale, relative = max(diff, d), max(scale, s), max(relative, d / max(s, 1e-12))
            if d > tolerance * max(s, 1.0):
                raise ValueError(f'{path}: {name} differs from PyTorch by {d:.2e} (outputs up to '
                                 f'{s:.2e}, tolerance {tolerance:g}) at input {size}')
        results.append(
            dict(
                size=tuple(size),
                max_abs_diff=diff,
                max_abs_output=scale,
                relative=relative,
                outputs=[tuple(o.shape) for o in outs]))
    return results
