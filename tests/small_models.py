"""Small models for tests, in one place: a small custom arch per family (fast to build, every stage
and block kind present), ``SMALL_BACKBONES[name](**backbone_kwargs)`` (``SMALL_SPECS`` holds
their class and arguments); narrower ones with one block a stage, ``TINY_BACKBONES``, for tests
that run Triton kernels in its (slow) interpreter; a one-step benchmark measurement spec,
:func:`tiny_spec`; :func:`build_on_meta`, a config's model built for its structure only; and
:func:`mmpretrain_classifier`, a backbone's classification form in mmpretrain's classifier."""
import importlib

import torch
from mmengine.registry import DefaultScope

from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet

HORNET_ARCH = dict(embed_dims=[32, 64, 128, 256], depths=[1, 1, 2, 1], orders=[2, 3, 4, 5])
# name -> (backbone class, the keyword arguments that make it small)
SMALL_SPECS = {
    'moganet':
    (MogaNet,
     dict(arch=dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], ffn_ratios=[4, 4, 4, 4]))),
    'hornet-7x7': (HorNet, dict(arch=HORNET_ARCH)),
    'hornet-gf': (HorNet, dict(arch=HORNET_ARCH, mixer='gf')),
    'conv2former': (Conv2Former,
                    dict(
                        arch=dict(
                            embed_dims=[16, 32, 48, 64],
                            depths=[1, 1, 2, 1],
                            mlp_ratios=[4, 4, 4, 4],
                            kernel_size=7))),
    'inceptionnext': (InceptionNeXt,
                      dict(
                          arch=dict(
                              embed_dims=[16, 32, 64, 128],
                              depths=[1, 1, 2, 1],
                              mlp_ratios=[4, 4, 4, 3],
                              band_kernel_size=11,
                              branch_ratio=0.125))),
}


def _small(backbone, small_kwargs):
    return lambda **kwargs: backbone(**small_kwargs, **kwargs)


SMALL_BACKBONES = {name: _small(*spec) for name, spec in SMALL_SPECS.items()}

TINY_BACKBONES = {
    'moganet':
    lambda **kwargs: MogaNet(
        dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2]), **kwargs),
    'hornet-7x7':
    lambda **kwargs: HorNet(
        dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]), **kwargs),
    'conv2former':
    lambda **kwargs: Conv2Former(
        dict(
            embed_dims=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            mlp_ratios=[2, 2, 2, 2],
            kernel_size=11), **kwargs),
}


def tiny_spec(**changes) -> dict:
    """A ``mmmoga.devtools.benchmark.measure`` spec: MogaNet-XT at 64x64, batch 1, one step, one
    thread, with ``changes`` applied."""
    return dict(
        dict(
            model='moganet-xt',
            mode='infer',
            batch=1,
            size=64,
            dtype='fp32',
            memory_format='channels_first',
            with_cp=False,
            iters=1,
            warmup=0,
            device='cpu',
            threads=1), **changes)


def build_on_meta(cfg):
    """Build a config's model for its structure only (fast, no memory), in the config's scope; on
    the CPU for models whose constructor reads tensor values (mmdet's and mmseg's Swin)."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
        try:
            with torch.device('meta'):
                return registry.build(cfg.model)
        except (RuntimeError, NotImplementedError):  # e.g. Swin calls .item() while building
            return registry.build(cfg.model)


def mmpretrain_classifier(backbone: dict, num_classes: int, in_channels: int):
    """mmpretrain's ``ImageClassifier`` of ``backbone`` (a config dict) in its classification form,
    no neck and a ``LinearClsHead``, built in mmpretrain's scope (a test may leave another)."""
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(backbone, with_cls_head=True, out_indices=(3, )),
                neck=None,
                head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels)))
