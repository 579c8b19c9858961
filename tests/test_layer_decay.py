"""BackboneLayerDecayOptimWrapperConstructor: the official MogaNet/HorNet LR scales, the official
no-weight-decay rule, mmdet's ConvNeXt rule for mmpretrain's ConvNeXt, and every task library."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS, DefaultScope
from small_models import ARCHS
from torch import nn

import mmmoga  # noqa: F401  (registers everything)
from mmmoga.engine.optimizers import BackboneLayerDecayOptimWrapperConstructor
from mmmoga.models import MogaNet

NAME = 'BackboneLayerDecayOptimWrapperConstructor'
# layer ids depend on parameter names only: tiny widths, but the official depth of stage 3 (>= 17)
MOGA_ARCH = ARCHS['moganet']['deep']
HORNET_ARCH = ARCHS['hornet']['deep']


class Detector(nn.Module):
    """Stands in for a task-library model: a backbone next to other modules."""

    def __init__(self, backbone: nn.Module, neck: nn.Module = None):
        super().__init__()
        self.backbone = backbone
        self.neck = neck if neck is not None else nn.Conv2d(16, 8, 1)
        self.head = nn.Linear(8, 2)


def build(model, rate, num_layers, decay_type='layer_wise', lr=1.0, weight_decay=0.05, **extra):
    cfg = dict(
        constructor=NAME,
        optimizer=dict(type='AdamW', lr=lr, weight_decay=weight_decay),
        paramwise_cfg=dict(decay_rate=rate, decay_type=decay_type, num_layers=num_layers, **extra))
    return build_optim_wrapper(model, cfg)


def groups_by_name(wrapper, model):
    """{parameter name: its param group}."""
    owner = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    return {name: owner[id(p)] for name, p in model.named_parameters() if id(p) in owner}


def scales(wrapper, model):
    return {name: g['lr_scale'] for name, g in groups_by_name(wrapper, model).items()}


def hornet():
    from mmmoga.models.backbones.hornet import HorNet
    return HorNet(arch=HORNET_ARCH)


# ------------------------------------------------------------------------------------------------
# MogaNet (architectures.md 1.7)


def test_moganet_layer_wise_official_example():
    model = Detector(MogaNet(MOGA_ARCH))
    s = scales(build(model, 0.8, 12), model)
    expected = {  # [measured] with the official function: stem .055, blocks1 .086, ...
        'backbone.patch_embed1.projection.0.weight': 0.055,
        'backbone.blocks1.0.attn.gate.weight': 0.086,
        'backbone.blocks3.0.attn.gate.weight': 0.107,
        'backbone.blocks3.16.attn.gate.weight': 0.64,
        'backbone.patch_embed4.projection.weight': 0.8,
        'backbone.blocks4.0.mlp.fc1.weight': 0.8,
        'backbone.norm1.weight': 1.0,
        'backbone.norm4.bias': 1.0,
        'neck.weight': 1.0,
        'head.bias': 1.0,
    }
    for name, value in expected.items():
        assert s[name] == pytest.approx(value, abs=5e-4), name
    # and exactly rate ** (num_layers + 1 - id) with the official ids
    assert s['backbone.patch_embed1.projection.0.weight'] == pytest.approx(0.8**13)
    assert s['backbone.patch_embed2.projection.weight'] == pytest.approx(0.8**10)
    assert s['backbone.patch_embed3.projection.weight'] == pytest.approx(0.8**9)
    assert [s[f'backbone.blocks3.{j}.layer_scale_1'] for j in range(0, 17, 2)
            ] == pytest.approx([0.8**(13 - min(3 + j // 2, 11)) for j in range(0, 17, 2)])


# ------------------------------------------------------------------------------------------------
# HorNet (architectures.md 2.7)


def test_hornet_layer_wise_official_example():
    model = Detector(hornet())
    s = scales(build(model, 0.7, 12), model)
    expected = {
        'backbone.downsample_layers.0.0.weight': 0.0097,
        'backbone.stages.0.0.gnconv.proj_in.weight': 0.0138,
        'backbone.stages.2.0.gnconv.proj_in.weight': 0.028,
        'backbone.stages.2.17.pwconv1.weight': 0.49,
        'backbone.stages.3.0.pwconv1.weight': 0.7,
        'backbone.downsample_layers.3.1.weight': 0.7,
        'backbone.norm3.weight': 1.0,
        'neck.weight': 1.0,
    }
    for name, value in expected.items():
        assert s[name] == pytest.approx(value, abs=5e-4), name
    assert s['backbone.downsample_layers.1.1.weight'] == pytest.approx(0.7**11)
    assert s['backbone.downsample_layers.2.1.weight'] == pytest.approx(0.7**10)
    assert s['backbone.stages.1.0.gamma1'] == pytest.approx(0.7**11)


def test_hornet_stage_wise_official_example():
    model = Detector(hornet())
    s = scales(build(model, 0.9, 12, 'stage_wise'), model)
    for i in range(4):
        assert s[f'backbone.downsample_layers.{i}.0.weight'] == pytest.approx(0.254, abs=5e-4)
    for i, value in enumerate([0.282, 0.314, 0.349, 0.387]):
        assert s[f'backbone.stages.{i}.0.pwconv1.weight'] == pytest.approx(value, abs=5e-4)
        assert s[f'backbone.stages.{i}.0.pwconv1.weight'] == pytest.approx(0.9**(12 - i))
    assert s['backbone.stages.2.17.pwconv2.weight'] == pytest.approx(0.349, abs=5e-4)
    assert s['backbone.norm0.weight'] == s['head.weight'] == 1.0
    # stage_wise, num_layers 6 (tiny seg configs): stage 4 gets 0.729
    s6 = scales(build(model, 0.9, 6, 'stage_wise'), model)
    assert s6['backbone.stages.3.0.pwconv1.weight'] == pytest.approx(0.729)


def test_horfpn_recipe_quirk_layer_wise_095_over_6_layers():
    """The released HorFPN det setting: stage 4 keeps id 12, so it trains at 0.95^-5 = 1.29x."""
    from mmmoga.models import HorFPN
    model = Detector(hornet(), HorFPN([8, 8, 16, 16], 8, num_outs=5))
    s = scales(build(model, 0.95, 6), model)
    assert s['backbone.stages.3.0.pwconv1.weight'] == pytest.approx(1.29, abs=5e-3)
    assert s['backbone.downsample_layers.3.1.weight'] == pytest.approx(0.95**-5)
    assert s['backbone.stages.2.17.pwconv1.weight'] == pytest.approx(1.23, abs=5e-3)
    assert s['backbone.downsample_layers.0.0.weight'] == pytest.approx(0.70, abs=5e-3)
    assert s['neck.fpn_convs.0.proj_in.weight'] == 1.0
    assert s['neck.lateral_convs.0.conv.weight'] == 1.0


# ------------------------------------------------------------------------------------------------
# weight decay


def test_no_weight_decay_for_biases_norms_and_layer_scales():
    model = Detector(MogaNet(MOGA_ARCH))
    g = groups_by_name(build(model, 0.8, 12), model)
    no_decay = [
        'backbone.patch_embed1.projection.0.bias',
        'backbone.patch_embed1.projection.1.weight',  # stem BN (named without "norm")
        'backbone.blocks1.0.norm1.weight',
        'backbone.blocks1.0.layer_scale_1',  # (1, C, 1, 1): 1-D after squeeze
        'backbone.blocks1.0.attn.sigma.scale',
        'backbone.blocks1.0.mlp.decompose.weight',  # (1, C, 1, 1) conv weight, as released
        'backbone.blocks1.0.mlp.decompose.bias',
        'backbone.norm4.weight',
        'neck.bias',
        'head.bias',
    ]
    decay = [
        'backbone.patch_embed1.projection.0.weight',
        'backbone.blocks3.5.attn.value.DW_conv0.weight',
        'backbone.blocks1.0.mlp.fc1.weight',
        'neck.weight',
        'head.weight',
    ]
    for name in no_decay:
        assert g[name]['weight_decay'] == 0., name
    for name in decay:
        assert g[name]['weight_decay'] == 0.05, name


def test_hornet_weight_decay_gf_filter_is_decayed():
    from mmmoga.models.backbones.hornet import HorNet
    model = Detector(HorNet(arch=HORNET_ARCH, mixer='gf'))
    g = groups_by_name(build(model, 0.7, 12), model)
    assert g['backbone.stages.2.0.gnconv.dwconv.complex_weight']['weight_decay'] == 0.05
    for name in ('backbone.stages.2.0.gamma1', 'backbone.stages.2.0.norm1.weight',
                 'backbone.stages.2.0.gnconv.dwconv.pre_norm.weight',
                 'backbone.stages.0.0.gnconv.dwconv.bias', 'backbone.norm2.bias'):
        assert g[name]['weight_decay'] == 0., name


def test_groups_lr_and_frozen_parameters():
    model = Detector(MogaNet(MOGA_ARCH))
    for p in model.backbone.patch_embed1.parameters():
        p.requires_grad = False
    wrapper = build(model, 0.8, 12, lr=2e-4)
    groups = wrapper.optimizer.param_groups
    held = {id(p) for group in groups for p in group['params']}
    assert all(id(p) not in held for p in model.backbone.patch_embed1.parameters())
    assert len(held) == sum(p.requires_grad for p in model.parameters())
    names = [group['group_name'] for group in groups]
    assert len(set(names)) == len(names)
    for group in groups:
        assert group['lr'] == pytest.approx(2e-4 * group['lr_scale'])
        assert group['lr_scale'] == pytest.approx(0.8**(13 - group['layer_id']))
    # one group per (layer id, decay / no decay): ids 2..13 used here (stem frozen, id 1 unused)
    assert sorted({group['layer_id'] for group in groups}) == list(range(2, 14))


def test_custom_keys_lr_mult_and_decay_mult():
    model = Detector(MogaNet(MOGA_ARCH))
    wrapper = build(
        model, 0.8, 12, custom_keys={
            'head': dict(lr_mult=10.),
            'neck.weight': dict(decay_mult=0.)
        })
    g = groups_by_name(wrapper, model)
    assert g['head.weight']['lr_scale'] == pytest.approx(10.)
    assert g['head.weight']['weight_decay'] == 0.05
    assert g['neck.weight']['weight_decay'] == 0. and g['neck.weight']['lr_scale'] == 1.
    assert g['backbone.blocks4.0.mlp.fc1.weight']['lr_scale'] == pytest.approx(0.8)


def test_wrapped_model_is_unwrapped():

    class Wrapper(nn.Module):  # what DDP looks like to the constructor

        def __init__(self, module):
            super().__init__()
            self.module = module

    model = Detector(MogaNet(MOGA_ARCH))
    s = scales(build(Wrapper(model), 0.8, 12), model)
    assert s['backbone.patch_embed1.projection.0.weight'] == pytest.approx(0.8**13)


def test_groups_are_logged_once():
    logger = MMLogger.get_current_instance()
    records = []

    class Collect(logging.Handler):

        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect()
    logger.addHandler(handler)
    try:
        model = Detector(MogaNet(MOGA_ARCH))
        build(model, 0.8, 12)
    finally:
        logger.removeHandler(handler)
    logs = [r for r in records if r.startswith(f'{NAME}: ')]
    assert len(logs) == 1
    assert 'layer_0_decay' in logs[0] and 'lr_scale=0.05498' in logs[0]
    assert 'layer_13_no_decay' in logs[0] and 'weight_decay=0.0' in logs[0]


def test_bad_settings_are_clear_errors():
    model = Detector(MogaNet(MOGA_ARCH))
    with pytest.raises(ValueError, match='decay_rate'):
        build_optim_wrapper(
            model,
            dict(
                constructor=NAME,
                optimizer=dict(type='AdamW', lr=1e-4),
                paramwise_cfg=dict(num_layers=12)))
    with pytest.raises(ValueError, match='norm_decay_mult'):
        build(model, 0.8, 12, norm_decay_mult=0.)
    with pytest.raises(ValueError, match='decay_type'):
        build(model, 0.8, 12, 'block_wise')
    with pytest.raises(NotImplementedError, match='backbone'):
        build(nn.Sequential(nn.Linear(2, 2)), 0.8, 12)


# ------------------------------------------------------------------------------------------------
# mmpretrain's ConvNeXt: mmdet's rule, checked name by name against mmdet's own functions


@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
def test_mmpretrain_convnext_follows_mmdet_rule(decay_type):
    from mmdet.engine.optimizers.layer_decay_optimizer_constructor import (
        get_layer_id_for_convnext, get_stage_id_for_convnext)
    from mmpretrain.models.backbones import ConvNeXt
    model = Detector(ConvNeXt(arch=dict(depths=[1, 1, 9, 1], channels=[8, 8, 8, 16])))
    num_layers, rate = 6, 0.9
    g = groups_by_name(build(model, rate, num_layers, decay_type), model)
    for name, _ in model.named_parameters():
        if decay_type == 'layer_wise':
            mmdet_id = get_layer_id_for_convnext(name, num_layers)
        else:
            mmdet_id = get_stage_id_for_convnext(name, num_layers + 2)
        assert g[name]['layer_id'] == mmdet_id, name
        assert g[name]['lr_scale'] == pytest.approx(rate**(num_layers + 1 - mmdet_id)), name
    if decay_type == 'layer_wise':
        assert g['backbone.stages.2.8.depthwise_conv.weight']['layer_id'] == 3 + 8 // 3
        assert g['backbone.stages.0.0.gamma']['weight_decay'] == 0.


def test_unsupported_backbone_names_the_supported_ones():
    from mmpretrain.models.backbones import ResNet
    model = Detector(ResNet(depth=18))
    with pytest.raises(NotImplementedError, match='ResNet.*Supported.*get_layer_id.*ConvNeXt'):
        build(model, 0.9, 6)


# ------------------------------------------------------------------------------------------------
# every task library


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain', 'mmpose'])
@pytest.mark.parametrize('name', [NAME, f'mmmoga.{NAME}'])
def test_builds_under_each_default_scope(scope, name):
    import importlib
    model = Detector(MogaNet(MOGA_ARCH))
    with DefaultScope.overwrite_default_scope(scope):
        registry = importlib.import_module(f'{scope}.registry').OPTIM_WRAPPER_CONSTRUCTORS
        assert registry.get(name) is BackboneLayerDecayOptimWrapperConstructor
        assert OPTIM_WRAPPER_CONSTRUCTORS.get(name) is BackboneLayerDecayOptimWrapperConstructor
        wrapper = build_optim_wrapper(
            model,
            dict(
                constructor=name,
                optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
                paramwise_cfg=dict(decay_rate=0.8, num_layers=12)))
    s = scales(wrapper, model)
    assert s['backbone.blocks1.0.attn.gate.weight'] == pytest.approx(0.8**11)


def test_real_mmdet_model_from_config(tmp_path):
    from mmdet.registry import MODELS
    from mmengine.config import Config
    path = tmp_path / 'retinanet.py'
    path.write_text(
        "_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py']\n"
        f"model = dict(backbone=dict(_delete_=True, type='MogaNet', arch={MOGA_ARCH!r}),\n"
        "             neck=dict(in_channels=[8, 8, 16, 16]))\n")
    cfg = Config.fromfile(str(path))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    wrapper = build(model, 0.8, 12)
    s = scales(wrapper, model)
    assert s['backbone.blocks3.16.mlp.fc2.weight'] == pytest.approx(0.64)
    assert s['bbox_head.retina_cls.weight'] == 1.0
    assert sum(len(g['params'])
               for g in wrapper.optimizer.param_groups) == len(list(model.parameters()))
    loss = sum(p.sum() for p in model.parameters())
    loss.backward()
    wrapper.step()  # a real AdamW step over the groups
    assert torch.isfinite(next(model.parameters())).all()


# ------------------------------------------------------------------------------------------------
# mmpretrain's own layer-decay constructor asks the backbone's get_layer_depth


def mmpretrain_classifier(family, arch):
    from mmpretrain.models import ImageClassifier
    with torch.device('meta'):
        channels = getattr(mmmoga.models.backbones, family)(arch=arch).embed_dims[-1]
    return ImageClassifier(
        backbone=dict(type=f'mmmoga.{family}', arch=arch, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=channels))


@pytest.mark.parametrize('family, arch, num_layers', [
    ('MogaNet', ARCHS['moganet']['deep'], 12),
    ('MogaNet', ARCHS['moganet']['small'], 6),
    ('HorNet', ARCHS['hornet']['deep'], 12),
    ('Conv2Former', ARCHS['conv2former']['two_blocks'], 6),
    ('InceptionNeXt', ARCHS['inceptionnext']['two_blocks'], 6),
])
def test_mmpretrains_constructor_gives_our_scales(family, arch, num_layers):
    """mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` on an ImageClassifier with our
    backbone gives every parameter the LR that ours gives with ConvNeXt's ``num_layers``."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = mmpretrain_classifier(family, arch)
        theirs = build_optim_wrapper(
            model,
            dict(
                constructor='LearningRateDecayOptimWrapperConstructor',
                optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
                paramwise_cfg=dict(layer_decay_rate=0.8)))
    ours = build(model, 0.8, num_layers)
    lr = {id(p): g['lr'] for g in theirs.optimizer.param_groups for p in g['params']}
    expected = {name: g['lr'] for name, g in groups_by_name(ours, model).items()}
    assert {name: lr[id(p)] for name, p in model.named_parameters()} == pytest.approx(expected)
    assert len(set(expected.values())) >= 4  # the scales do differ by layer
    head = model.backbone.get_layer_depth('head.fc.weight', 'backbone.')
    assert head == (num_layers + 1, num_layers + 2)  # outside the backbone: scale 1
