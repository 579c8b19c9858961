"""Parameters and FLOPs of the model a config builds, with mmengine's counter.

FLOPs are multiply-accumulates (the papers' convention: 1 MAC = 1 FLOP), counted by
``mmengine.analysis`` (fvcore-style). The papers used mmcv 1.x's counter, so figures differ
slightly, and FFTs (HorNet's global filter) are not counted. Detectors run their test-time forward
on one blank image (RPN proposals, RoI heads, masks), segmentors the whole-image decode, pose models
and classifiers their tensor forward. ``tools/analysis/get_flops.py`` and the model zoo
(``mmmoga.devtools.model_zoo``) both count with :func:`count_complexity`.
"""
import importlib
import inspect
from functools import partial
from typing import Callable, Optional

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from torch import nn

COUNTER = 'mmengine.analysis (MACs)'
TASK_SCOPES = ('mmdet', 'mmseg', 'mmpose', 'mmpretrain')


def _scope(cfg: Config) -> str:
    scope = cfg.get('default_scope')
    if scope not in TASK_SCOPES:
        raise ValueError(f'config default_scope is {scope!r}; expected one of {TASK_SCOPES} '
                         "(set default_scope = 'mmdet' etc. in the config)")
    return scope


def build_model(cfg: Config, device: Optional[str] = None) -> nn.Module:
    """Build ``cfg.model`` in the config's own scope, SyncBN reverted to BN, in eval mode.

    ``device='meta'`` builds the structure only (no memory, no init): enough to count parameters.
    Models that call ``.item()`` while building (mmdet's Swin) cannot be built on meta; those are
    built on the CPU instead.
    """
    scope = _scope(cfg)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        if device == 'meta':
            try:
                with torch.device('meta'):
                    model = registry.build(cfg.model)
            except (RuntimeError, NotImplementedError):  # e.g. Swin calls .item() while building
                model = registry.build(cfg.model)
        else:
            model = registry.build(cfg.model)
    return revert_sync_batchnorm(model).eval()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _limit_mask_rois(roi_head: nn.Module, limit: int = 100) -> None:
    """Run a cascade's mask heads on the first ``limit`` RoIs only, as the papers' counts do.

    mmdet 2.x's ``forward_dummy`` (the papers' counter) and mmdet 3.x's Mask R-CNN tensor forward
    give the mask head the first 100 of the 1000 proposals; mmdet 3.x's Cascade and HTC tensor
    forwards give every stage's mask head all 1000, which nearly triples a Cascade Mask R-CNN's
    count. The other rows are filled with zeros (no MACs), so the heads' outputs keep their shape.
    """
    mask_forward = roi_head._mask_forward
    if getattr(mask_forward, 'limited_to', None) == limit:
        return  # already limited
    signature = inspect.signature(mask_forward)

    def forward(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        rois = bound.arguments['rois']
        bound.arguments['rois'] = rois[:limit]
        results = mask_forward(*bound.args, **bound.kwargs)

        def pad(preds):
            return torch.cat([preds, preds.new_zeros((len(rois) - len(preds), *preds.shape[1:]))])

        preds = results['mask_preds']
        results['mask_preds'] = [pad(p) for p in preds] if isinstance(preds, list) else pad(preds)
        return results

    forward.limited_to = limit
    roi_head._mask_forward = forward


def tensor_forward(model: nn.Module, scope: str, height: int, width: int) -> Callable:
    """The model's forward on an image tensor alone (everything else bound), for the counter."""
    if scope == 'mmdet':
        from mmdet.models.roi_heads import CascadeRoIHead
        from mmdet.structures import DetDataSample
        roi_head = getattr(model, 'roi_head', None)
        if isinstance(roi_head, CascadeRoIHead) and roi_head.with_mask:  # also HTC
            _limit_mask_rois(roi_head)
        shape = (height, width)
        sample = DetDataSample(
            metainfo=dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                batch_input_shape=shape,
                scale_factor=(1., 1.)))
        return partial(model._forward, batch_data_samples=[sample])
    if scope == 'mmpretrain':
        return partial(model.forward, mode='tensor')
    if scope == 'mmseg' and 'batch_data_samples' in inspect.signature(
            model.decode_head.forward).parameters:  # Mask2Former / MaskFormer heads
        from mmseg.structures import SegDataSample
        shape = (height, width)
        sample = SegDataSample(
            metainfo=dict(
                img_shape=shape, ori_shape=shape, pad_shape=shape, batch_input_shape=shape))
        return lambda inputs: model.decode_head.forward(model.extract_feat(inputs), [sample])
    return model._forward  # mmseg EncoderDecoder, mmpose TopdownPoseEstimator


def count_complexity(cfg: Config,
                     height: int,
                     width: int,
                     backbone_only: bool = False,
                     show_table: bool = False) -> dict:
    """Count the parameters and FLOPs (MACs) of ``cfg.model`` on one ``3 x height x width`` image.

    Returns ``dict(params=int, flops=int, table=str or None)``.
    """
    from mmengine.analysis import get_model_complexity_info
    scope = _scope(cfg)
    model = build_model(cfg)
    if backbone_only:
        model = model.backbone
        forward = model.forward
    else:
        forward = tensor_forward(model, scope, height, width)
    model.forward = forward
    with torch.no_grad():
        info = get_model_complexity_info(
            model,
            inputs=(torch.zeros(1, 3, height, width), ),
            show_table=show_table,
            show_arch=False)
    return dict(
        params=count_params(model),
        flops=int(info['flops']),
        table=info.get('out_table') if show_table else None)
