"""Small models for tests, in one place: every custom arch the tests build (``ARCHS``); the small
one of each family as ``SMALL_BACKBONES[name](**backbone_kwargs)`` (``SMALL_SPECS`` holds their
class and arguments), the tiny ones as ``TINY_BACKBONES``; a one-step benchmark measurement spec,
:func:`tiny_spec`; :func:`build_on_meta`, a config's model built for its structure only, and
:func:`config_and_model`, each config's built once per test run; and
:func:`mmpretrain_classifier`, a backbone's classification form in mmpretrain's classifier."""
import copy
import functools
import importlib
import os.path as osp
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn

from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet

#: every custom arch the tests build, by family: ``small`` (every stage and block kind, two
#: blocks in stage 3), ``tiny`` (narrowest, one block a stage: argument checks, training loops,
#: Triton kernels in its slow interpreter), ``two_blocks`` (two blocks in stages 2 and 3, small
#: kernels: the shapes and values the family tests pin) and ``deep`` (stage 3 deep enough for the
#: 12 layer ids of layer-wise LR decay)
ARCHS = {
    'moganet':
    dict(
        small=dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], ffn_ratios=[4, 4, 4, 4]),
        tiny=dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2]),
        deep=dict(embed_dims=[8, 8, 16, 16], depths=[1, 1, 17, 1], ffn_ratios=[2, 2, 2, 2])),
    'hornet':
    dict(
        small=dict(embed_dims=[32, 64, 128, 256], depths=[1, 1, 2, 1], orders=[2, 3, 4, 5]),
        tiny=dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]),
        deep=dict(embed_dims=[8, 8, 16, 16], depths=[1, 1, 18, 1], orders=[2, 2, 2, 2])),
    'conv2former':
    dict(
        small=dict(
            embed_dims=[16, 32, 48, 64],
            depths=[1, 1, 2, 1],
            mlp_ratios=[4, 4, 4, 4],
            kernel_size=7),
        tiny=dict(
            embed_dims=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            mlp_ratios=[2, 2, 2, 2],
            kernel_size=11),
        two_blocks=dict(
            embed_dims=[8, 16, 24, 32], depths=[1, 2, 2, 1], mlp_ratios=[4, 4, 4, 4],
            kernel_size=5)),
    'inceptionnext':
    dict(
        small=dict(
            embed_dims=[16, 32, 64, 128],
            depths=[1, 1, 2, 1],
            mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=11,
            branch_ratio=0.125),
        tiny=dict(
            embed_dims=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            mlp_ratios=[2, 2, 2, 2],
            band_kernel_size=5,
            branch_ratio=0.125),
        two_blocks=dict(
            embed_dims=[16, 32, 48, 64],
            depths=[1, 2, 2, 1],
            mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=5,
            branch_ratio=0.25)),
}


def one_block(arch: dict) -> dict:
    """``arch`` with one block a stage (torch.compile, whose time grows with the graph; necks)."""
    return dict(arch, depths=[1, 1, 1, 1])


# name -> (backbone class, the keyword arguments that make it small)
SMALL_SPECS = {
    'moganet': (MogaNet, dict(arch=ARCHS['moganet']['small'])),
    'hornet-7x7': (HorNet, dict(arch=ARCHS['hornet']['small'])),
    'hornet-gf': (HorNet, dict(arch=ARCHS['hornet']['small'], mixer='gf')),
    'conv2former': (Conv2Former, dict(arch=ARCHS['conv2former']['small'])),
    'inceptionnext': (InceptionNeXt, dict(arch=ARCHS['inceptionnext']['small'])),
}


def _build(backbone, fixed_kwargs):
    return lambda **kwargs: backbone(**fixed_kwargs, **kwargs)


SMALL_BACKBONES = {name: _build(*spec) for name, spec in SMALL_SPECS.items()}
TINY_BACKBONES = {
    'moganet': _build(MogaNet, dict(arch=ARCHS['moganet']['tiny'])),
    'hornet-7x7': _build(HorNet, dict(arch=ARCHS['hornet']['tiny'])),
    'conv2former': _build(Conv2Former, dict(arch=ARCHS['conv2former']['tiny'])),
}


def tiny_spec(**changes) -> dict:
    """A ``mmmoga.devtools.benchmark.measure`` spec: MogaNet-XT at 64x64, batch 1, one step, one
    thread, with ``changes`` applied."""
    return dict(
        dict(
            model='moganet_xt',
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


@functools.lru_cache(maxsize=None)
def _config_and_model(path: str) -> Tuple[Config, nn.Module]:
    cfg = Config.fromfile(path)
    return cfg, build_on_meta(copy.deepcopy(cfg))  # building changes some of the config's dicts


def config_and_model(path: str) -> Tuple[Config, nn.Module]:
    """The config at ``path`` (a copy of its own: change it freely) and its model built by
    :func:`build_on_meta`, read and built once per test run: the model is shared by every test
    that asks for it, so read it and never change it."""
    cfg, model = _config_and_model(osp.abspath(path))
    return copy.deepcopy(cfg), model


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
