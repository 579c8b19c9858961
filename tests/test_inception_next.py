"""Tests of the InceptionNeXt backbone (mmmoga/models/backbones/inception_next.py) and of
tools/model_converters/inceptionnext_timm_to_official.py.

Reference numbers come from the official sail-sg/inceptionnext ``models/inceptionnext.py``, built
on CPU with its timm imports stubbed: parameter counts, state-dict key counts, and the outputs of
``inceptionnext_atto`` with the deterministic weights of :func:`deterministic_state_dict`
(``FIXTURE_ATTO``; the official and this implementation agreed bit for bit on CPU).
"""
import logging
import sys

import pytest
import torch
from small_models import ARCHS, mmpretrain_classifier
from tool_scripts import load_tool
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.models.backbones import InceptionNeXt
from numeric_fixtures import (classifier_params, deterministic_input, deterministic_state_dict,
                              n_params, stats)

# arch: (params without head, keys of the official state dict); the classifier's count is its
# metafile entry's (imagenet_inceptionnext_<short>)
OFFICIAL = {
    'atto': (2_885_440, 226),
    'tiny': (23_974_296, 322),
    'small': (45_292_632, 610),
    'base': (80_444_192, 610),
}

TINY = ARCHS['inceptionnext']['two_blocks']

# Official inceptionnext_atto with deterministic_state_dict() weights on deterministic_input():
# per output [mean, abs-mean, flat[0], flat[numel // 3], flat[-1]] of the stage 0..3 outputs and of
# the head's pre-logits (pool, fc1, GELU, LayerNorm) in eval mode, then the pre-logits in train
# mode.
FIXTURE_ATTO = [
    [-0.016794, 0.45399, 0.280191, 0.063546, -0.313121],
    [0.006259, 0.457872, -0.667967, -0.448332, 0.289729],
    [0.003882, 0.504136, 0.090417, -0.435222, -0.445786],
    [-0.015994, 0.472405, -0.190149, 0.162252, 0.332228],
    [0.00126, 0.775333, 0.220931, 1.804634, -0.298163],
    [-0.002656, 0.781394, -0.03139, 1.309308, -0.865791],
]


def load_converter():
    return load_tool('tools/model_converters/inceptionnext_timm_to_official.py')


# ------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize('arch', list(OFFICIAL))
def test_param_and_key_counts_match_official(arch):
    dense_params, n_keys = OFFICIAL[arch]
    cls_params = classifier_params(f'inceptionnext_{arch[0]}')
    with torch.device('meta'):
        dense = InceptionNeXt(arch)
        cls = InceptionNeXt(arch, with_cls_head=True, out_indices=(3, ))
    c4 = dense.embed_dims[-1]
    fc2_params = 3 * c4 * 1000 + 1000  # official head.fc2 = Linear(3 * C4, 1000)
    assert n_params(dense) == dense_params
    assert n_params(cls) + fc2_params == cls_params
    assert len(dense.state_dict()) == n_keys - 6  # head.{fc1,norm,fc2}.{weight,bias}
    assert len(cls.state_dict()) == n_keys - 2  # head.fc2.{weight,bias}


def test_aliases_and_arch_settings():
    assert InceptionNeXt.parse_arch('a') == InceptionNeXt.parse_arch('ATTO')
    assert InceptionNeXt.parse_arch('t') == InceptionNeXt.parse_arch('tiny')
    assert InceptionNeXt.parse_arch('s') == InceptionNeXt.parse_arch('small')
    assert InceptionNeXt.parse_arch('b') == InceptionNeXt.parse_arch('base')
    atto = InceptionNeXt.parse_arch('atto')
    assert atto['band_kernel_size'] == 9 and atto['branch_ratio'] == 0.25
    for arch in ('tiny', 'small', 'base'):
        settings = InceptionNeXt.parse_arch(arch)
        assert settings['band_kernel_size'] == 11 and settings['branch_ratio'] == 0.125
    assert all(InceptionNeXt.parse_arch(a)['mlp_ratios'] == [4, 4, 4, 3] for a in OFFICIAL)


def test_official_key_names_and_shapes():
    with torch.device('meta'):
        sd = InceptionNeXt('tiny', with_cls_head=True).state_dict()
        atto = InceptionNeXt('atto').state_dict()
    expected = {
        'stem.0.weight': (96, 3, 4, 4),
        'stem.0.bias': (96, ),
        'stem.1.running_mean': (96, ),
        'stem.1.num_batches_tracked': (),
        'stages.0.blocks.0.gamma': (96, ),
        'stages.0.blocks.0.token_mixer.dwconv_hw.weight': (12, 1, 3, 3),
        'stages.0.blocks.0.token_mixer.dwconv_hw.bias': (12, ),
        'stages.0.blocks.0.token_mixer.dwconv_w.weight': (12, 1, 1, 11),
        'stages.0.blocks.0.token_mixer.dwconv_h.weight': (12, 1, 11, 1),
        'stages.0.blocks.0.norm.running_var': (96, ),
        'stages.0.blocks.0.mlp.fc1.weight': (384, 96, 1, 1),
        'stages.0.blocks.0.mlp.fc2.weight': (96, 384, 1, 1),
        'stages.1.downsample.0.weight': (96, ),
        'stages.1.downsample.1.weight': (192, 96, 2, 2),
        'stages.1.downsample.1.bias': (192, ),
        'stages.3.blocks.2.mlp.fc1.weight': (2304, 768, 1, 1),  # last-stage mlp_ratio 3
        'head.fc1.weight': (2304, 768),
        'head.norm.weight': (2304, ),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert sorted({k.split('.')[0] for k in sd}) == ['head', 'stages', 'stem']
    assert not any('stages.0.downsample' in k for k in sd)
    # atto: band 9, ratio 0.25 -> split 10/10/10/10 at C=40
    assert atto['stages.0.blocks.0.token_mixer.dwconv_w.weight'].shape == (10, 1, 1, 9)
    assert atto['stages.0.blocks.0.token_mixer.dwconv_h.weight'].shape == (10, 1, 9, 1)
    assert atto['stages.3.blocks.1.token_mixer.dwconv_hw.weight'].shape == (80, 1, 3, 3)


def test_official_constants():
    model = InceptionNeXt(TINY, with_cls_head=True)
    block = model.stages[1].blocks[0]
    assert block.gamma.shape == (32, ) and torch.all(block.gamma == 1e-6)
    assert model.stages[1].blocks[0].token_mixer.split_sizes == (8, 8, 8, 8)
    assert isinstance(model.stages[0].downsample, nn.Identity)
    assert all(m.eps == 1e-5 for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.head.norm.eps == 1e-6 and model.head.fc1.out_features == 3 * 64
    assert model.stem[0].stride == (4, 4) and model.stages[2].downsample[1].stride == (2, 2)
    # as the official MetaNeXtBlock, layer_scale_init_value=0 builds no layer scale
    assert not any(
        k.endswith('gamma') for k in InceptionNeXt(TINY, layer_scale_init_value=0).state_dict())


# ------------------------------------------------------------------------------------ numerics


def test_outputs_match_official_fixture():
    model = InceptionNeXt('atto', with_cls_head=True).eval()
    model.load_state_dict(deterministic_state_dict(model.state_dict()))
    x = deterministic_input(2, 64, 80)
    with torch.no_grad():
        outs = list(model(x))
        outs = outs[:3] + [model.stages[3](outs[2]), outs[3]]
        model.train()
        outs.append(model(x)[-1])
    assert [tuple(o.shape) for o in outs] == [(2, 40, 16, 20), (2, 80, 8, 10), (2, 160, 4, 5),
                                              (2, 320, 2, 2), (2, 960), (2, 960)]
    for out, expected in zip(outs, FIXTURE_ATTO):
        torch.testing.assert_close(stats(out), torch.tensor(expected), rtol=1e-4, atol=1e-4)


def test_output_shapes_and_strides():
    model = InceptionNeXt(TINY).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
        assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 24), (2, 32, 8, 12), (2, 48, 4, 6),
                                                  (2, 64, 2, 3)]
        # odd sizes: conv 4x4 s4 then three 2x2 s2 convs (floor)
        outs = model(torch.rand(1, 3, 513, 511))
        assert [tuple(o.shape[2:]) for o in outs] == [(128, 127), (64, 63), (32, 31), (16, 15)]
        single = InceptionNeXt(TINY, out_indices=1).eval()(torch.rand(1, 3, 64, 64))
        assert len(single) == 1 and single[0].shape == (1, 32, 8, 8)
        cls = InceptionNeXt(TINY, with_cls_head=True, out_indices=(0, 3)).eval()
        outs = cls(torch.rand(2, 3, 64, 64))
        assert [tuple(o.shape) for o in outs] == [(2, 16, 16, 16), (2, 192)]


def test_syncbn_and_out_norms():
    model = InceptionNeXt(
        TINY, norm_cfg=dict(type='SyncBN'), out_norm_cfg=dict(type='SyncBN'), out_indices=(0, 1, 3))
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and all(isinstance(m, nn.SyncBatchNorm) for m in bns)
    assert len(bns) == 1 + 3 + 6 + 3  # stem, downsamplers, blocks, output norms 0, 1, 3
    keys = model.state_dict()
    assert 'norm0.running_mean' in keys and 'norm3.weight' in keys and 'norm2.weight' not in keys
    model.eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [16, 32, 64]
    # a fresh BN output norm in train mode normalises every channel over the batch
    bn = InceptionNeXt(TINY, out_norm_cfg=dict(type='BN')).train()
    out = bn(torch.rand(4, 3, 64, 64))[2]
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(48), atol=1e-4)
    cls = InceptionNeXt(TINY, with_cls_head=True, out_norm_cfg=dict(type='BN'))
    assert hasattr(cls, 'norm2') and not hasattr(cls, 'norm3')


# ------------------------------------------------------------------------------------ training

# ------------------------------------------------------------------------------------ loading


def _official_checkpoint(model):
    """The model's weights under the official keys, plus an official-shaped MlpHead."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('norm')}
    c4 = model.embed_dims[-1]
    sd.setdefault('head.fc1.weight', torch.randn(3 * c4, c4))
    sd.setdefault('head.fc1.bias', torch.randn(3 * c4))
    sd.setdefault('head.norm.weight', torch.randn(3 * c4))
    sd.setdefault('head.norm.bias', torch.randn(3 * c4))
    sd['head.fc2.weight'] = torch.randn(1000, 3 * c4)
    sd['head.fc2.bias'] = torch.randn(1000)
    return sd


@pytest.mark.parametrize('layout', ['raw', 'state_dict', 'backbone'])
def test_pretrained_official_layout_loads(tmp_path, layout, mm_log):
    source = InceptionNeXt(TINY)
    source.load_state_dict(deterministic_state_dict(source.state_dict()))
    sd = _official_checkpoint(source)
    if layout == 'backbone':
        checkpoint = {'state_dict': {'backbone.' + k: v for k, v in sd.items()}}
    elif layout == 'raw':  # the official releases are raw state dicts
        checkpoint = sd
    else:
        checkpoint = {layout: sd}
    path = str(tmp_path / 'inx.pth')
    torch.save(checkpoint, path)

    model = InceptionNeXt(
        TINY,
        norm_cfg=dict(type='SyncBN'),
        out_norm_cfg=dict(type='SyncBN'),
        init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert mm_log.at_least(logging.WARNING) == []
    infos = ' '.join(mm_log)
    assert 'norm3.running_var' in infos  # new output norms are reported as freshly initialised
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    dense = InceptionNeXt(TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    dense.init_weights()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(dense.eval()(x), source.eval()(x)):
            assert torch.equal(a, b)

    # classification mode keeps head.fc1/head.norm and drops only head.fc2
    mm_log.clear()
    cls = InceptionNeXt(TINY, with_cls_head=True, init_cfg=dict(type='Pretrained', checkpoint=path))
    cls.init_weights()
    assert mm_log.at_least(logging.WARNING) == []
    assert torch.equal(cls.head.fc1.weight, sd['head.fc1.weight'])
    assert torch.equal(cls.head.norm.bias, sd['head.norm.bias'])
    with torch.no_grad():
        logits = nn.functional.linear(cls.eval()(x)[-1], sd['head.fc2.weight'], sd['head.fc2.bias'])
        h = source.eval()(x)[-1].mean((2, 3))
        h = nn.functional.layer_norm(
            nn.functional.gelu(nn.functional.linear(h, sd['head.fc1.weight'], sd['head.fc1.bias'])),
            (192, ), sd['head.norm.weight'], sd['head.norm.bias'], 1e-6)
        torch.testing.assert_close(
            logits, nn.functional.linear(h, sd['head.fc2.weight'], sd['head.fc2.bias']))


def test_default_init_is_official():
    model = InceptionNeXt(TINY)
    model.init_weights()
    w = model.stages[2].blocks[0].mlp.fc1.weight
    assert abs(w.std().item() - 0.02) < 0.004  # PyTorch's default would be about 0.08
    assert torch.all(model.stages[2].blocks[0].mlp.fc1.bias == 0)
    assert torch.all(model.stages[2].blocks[0].gamma == 1e-6)


# ------------------------------------------------------------------------------------ converter


def _timm_layouts(sd):
    """The same weights in the layouts users bring (timm, timm features_only, mmpretrain)."""
    backbone = {k: v for k, v in sd.items() if not k.startswith('head.')}
    features_only = {}
    for k, v in backbone.items():
        top, index, rest = k.split('.', 2)
        features_only[f'{top}_{index}.{rest}'] = v
    tb = {'backbone.timm_model.' + k: v for k, v in sd.items() if not k.startswith('head.fc2')}
    tb['head.fc.weight'] = sd['head.fc2.weight']
    tb['head.fc.bias'] = sd['head.fc2.bias']
    tb['data_preprocessor.mean'] = torch.zeros(3, 1, 1)
    ours = {
        ('backbone.' + k if not k.startswith('head.fc2') else k.replace('fc2', 'fc')): v
        for k, v in sd.items()
    }
    return {
        'timm': (sd, sd),
        'timm_features_only': (features_only, backbone),
        'mmpretrain_timm_backbone': ({
            'state_dict': tb
        }, sd),
        'mmpretrain_mmmoga': ({
            'state_dict': ours,
            'meta': {}
        }, sd),
        'ema': ({
            'state_dict': {},
            'state_dict_ema': {
                'module.' + k: v
                for k, v in sd.items()
            }
        }, sd),
    }


def test_converter_layouts():
    from mmmoga.models.backbones import inception_next as conv  # what the command line wraps
    from mmmoga.utils import extract_state_dict
    source = InceptionNeXt(TINY)
    sd = _official_checkpoint(source)
    for name, (checkpoint, expected) in _timm_layouts(sd).items():
        out = conv.convert_inceptionnext_timm(
            extract_state_dict(checkpoint, prefix='', use_ema=name == 'ema'))
        assert set(out) == set(expected), name
        assert all(torch.equal(out[k], expected[k]) for k in expected), name
    out = conv.convert_inceptionnext_timm(sd, drop_head=True)
    assert not any(k.startswith('head') for k in out) and len(out) == len(sd) - 6
    with pytest.raises(ValueError, match='neck.lateral.weight'):
        conv.convert_inceptionnext_timm({**sd, 'neck.lateral.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='Two keys'):
        conv.convert_inceptionnext_timm({
            'stem_0.weight': torch.zeros(1),
            'stem.0.weight': torch.zeros(1)
        })


def test_converter_cli_output_loads(tmp_path, monkeypatch, mm_log):
    conv = load_converter()
    source = InceptionNeXt(TINY)
    source.load_state_dict(deterministic_state_dict(source.state_dict()))
    sd = _official_checkpoint(source)
    src = str(tmp_path / 'timm_features.pth')
    dst = str(tmp_path / 'out' / 'official.pth')
    torch.save(_timm_layouts(sd)['mmpretrain_timm_backbone'][0], src)
    monkeypatch.setattr(sys, 'argv', ['convert', src, dst])
    conv.main()
    converted = torch.load(dst, weights_only=True)
    assert set(converted) == set(sd)
    mm_log.clear()
    model = InceptionNeXt(TINY, init_cfg=dict(type='Pretrained', checkpoint=dst))
    model.init_weights()
    assert mm_log.at_least(logging.WARNING) == []
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model.eval()(x), source.eval()(x)):
            assert torch.equal(a, b)


# ------------------------------------------------------------------------------------ API


def test_bad_arguments_name_the_choices():
    with pytest.raises(ValueError, match="'atto'"):
        InceptionNeXt('femto')
    with pytest.raises(ValueError, match='band_kernel_size'):
        InceptionNeXt(dict(embed_dims=[8] * 4, depths=[1] * 4, mlp_ratios=[4] * 4))
    with pytest.raises(ValueError, match='4 values'):
        InceptionNeXt(dict(TINY, mlp_ratios=[4, 4, 3]))
    with pytest.raises(ValueError, match=r'branch_ratio must be in \(0, 1/3\]'):
        InceptionNeXt(dict(TINY, branch_ratio=0.5))


def test_get_layer_id():
    model = InceptionNeXt(TINY)
    lw = {
        'stem.0.weight': 0,
        'stem.1.bias': 0,
        'stages.0.blocks.0.gamma': 1,
        'stages.1.downsample.1.weight': 2,
        'stages.1.blocks.1.mlp.fc1.weight': 2,
        'stages.2.downsample.0.weight': 3,
        'stages.2.blocks.2.token_mixer.dwconv_w.weight': 3,
        'stages.2.blocks.3.norm.weight': 4,
        'stages.2.blocks.26.mlp.fc2.bias': 5,  # 3 + 26 // 3 = 11, capped at num_layers - 1
        'stages.3.downsample.1.bias': 6,
        'stages.3.blocks.2.gamma': 6,
        'norm1.weight': 7,
        'head.fc1.weight': 7,
    }
    for name, layer_id in lw.items():
        assert model.get_layer_id(name, 6) == layer_id, name
    sw = {
        'stem.0.weight': 0,
        'stages.2.downsample.0.weight': 0,
        'stages.0.blocks.0.gamma': 1,
        'stages.2.blocks.20.gamma': 3,
        'stages.3.blocks.0.mlp.fc1.weight': 4,
        'head.norm.weight': 7,
    }
    for name, layer_id in sw.items():
        assert model.get_layer_id(name, 6, 'stage_wise') == layer_id, name
    assert all(0 <= model.get_layer_id(n, 6) <= 7 for n, _ in model.named_parameters())


def test_mmpretrain_image_classifier_reproduces_official_layout():
    classifier = mmpretrain_classifier(dict(type='InceptionNeXt', arch='atto'), 1000, 960)
    assert n_params(classifier) == classifier_params('inceptionnext_a')
    with torch.no_grad():
        logits = classifier.eval()(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 1000)
