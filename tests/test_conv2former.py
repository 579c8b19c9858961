"""Tests of the Conv2Former backbone (mmmoga/models/backbones/conv2former.py).

Reference numbers come from the official HVision-NKU/Conv2Former ``models/conv2former.py`` (commit
91d1bda, January 2025), built on CPU with its timm imports stubbed: parameter counts, state-dict
key counts, and the outputs of ``conv2former_n`` with the deterministic weights of
:func:`deterministic_state_dict` (``FIXTURE_N``).
"""
import logging

import pytest
import torch
from small_models import ARCHS, mmpretrain_classifier
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.models.backbones import Conv2Former
from mmmoga.models.layers import LayerNorm2d
from numeric_fixtures import (classifier_params, deterministic_input, deterministic_state_dict,
                              n_params, stats)

# arch: (params without head/pred, keys of the official state dict); the classifier's count is its
# metafile entry's (imagenet_conv2former_<arch>), B-22K's (no config of its own) is given here
OFFICIAL = {
    'n': (13_052_640, 311),
    't': (24_675_084, 451),
    's': (48_010_572, 911),
    'b': (87_761_232, 951),
    'b-22k': (86_517_072, 951),
    'l': (196_298_176, 1231),
}
B_22K_CLASSIFIER = 88_784_952
PRED_PARAMS = 1280 * 1000 + 1000  # official ``pred`` = Linear(1280, 1000)

TINY = ARCHS['conv2former']['two_blocks']

# Official conv2former_n (kernel 7) with deterministic_state_dict() weights, deterministic_input():
# per output [mean, abs-mean, flat[0], flat[numel // 3], flat[-1]] of the stage 0..3 outputs, the
# pooled 1280-d pre-logits (forward_features) in eval mode, and the pre-logits in train mode.
FIXTURE_N = [
    [0.004278, 0.650619, 0.485659, -0.271745, -0.113226],
    [-0.014459, 0.996485, 2.246529, 1.284888, -0.814954],
    [-0.080122, 1.339434, -0.654782, 1.580812, 2.058936],
    [0.052871, 0.945268, -0.420229, 1.168881, 1.583523],
    [-0.000642, 0.584121, -0.651254, -0.233453, -0.30704],
    [0.000401, 0.541107, -0.625654, -0.608669, -0.251652],
]

# ------------------------------------------------------------------------------------ structure


@pytest.mark.parametrize('arch', list(OFFICIAL))
def test_param_and_key_counts_match_official(arch):
    dense_params, n_keys = OFFICIAL[arch]
    cls_params = B_22K_CLASSIFIER if arch == 'b-22k' else classifier_params(f'conv2former_{arch}')
    with torch.device('meta'):
        dense = Conv2Former(arch)
        cls = Conv2Former(arch, with_cls_head=True, out_indices=(3, ))
    assert n_params(dense) == dense_params
    assert n_params(cls) + PRED_PARAMS == cls_params
    # official keys minus head.{0,2}.{weight,bias} and pred.{weight,bias}
    assert len(dense.state_dict()) == n_keys - 6
    assert len(cls.state_dict()) == n_keys - 2


def test_aliases_and_kernel_size():
    assert Conv2Former.parse_arch('nano') == Conv2Former.parse_arch('N')
    assert Conv2Former.parse_arch('large') == Conv2Former.parse_arch('l')
    assert Conv2Former.parse_arch('base-22k') == Conv2Former.parse_arch('b_22k')
    assert Conv2Former.parse_arch('n')['kernel_size'] == 7
    assert Conv2Former.parse_arch('b-22k')['kernel_size'] == 7
    assert all(Conv2Former.parse_arch(a)['kernel_size'] == 11 for a in 'tsbl')
    with torch.device('meta'):
        old_n = Conv2Former('n', kernel_size=11, with_cls_head=True)
    # the official N before January 2025 (and the Jittor copy): kernel 11, 15,241,672 params
    assert old_n.kernel_size == 11
    assert n_params(old_n) + PRED_PARAMS == 15_241_672
    assert old_n.state_dict()['stages.2.7.attn.att.2.weight'].shape == (256, 1, 11, 11)


def test_official_key_names_and_shapes():
    with torch.device('meta'):
        sd = Conv2Former('n', with_cls_head=True).state_dict()
    expected = {
        'downsample_layers.0.0.weight': (32, 3, 3, 3),
        'downsample_layers.0.2.running_var': (32, ),
        'downsample_layers.0.3.weight': (32, 32, 3, 3),
        'downsample_layers.0.5.weight': (32, ),
        'downsample_layers.0.6.weight': (64, 32, 2, 2),
        'downsample_layers.1.0.weight': (64, ),
        'downsample_layers.1.1.weight': (128, 64, 2, 2),
        'downsample_layers.1.1.bias': (128, ),
        'stages.0.0.layer_scale_1': (64, ),
        'stages.0.0.layer_scale_2': (64, ),
        'stages.0.0.attn.norm.weight': (64, ),
        'stages.0.0.attn.att.0.weight': (64, 64, 1, 1),
        'stages.0.0.attn.att.2.weight': (64, 1, 7, 7),
        'stages.0.0.attn.att.2.bias': (64, ),
        'stages.0.0.attn.v.weight': (64, 64, 1, 1),
        'stages.0.0.attn.proj.bias': (64, ),
        'stages.0.0.mlp.norm.bias': (64, ),
        'stages.0.0.mlp.fc1.weight': (256, 64, 1, 1),
        'stages.0.0.mlp.pos.weight': (256, 1, 3, 3),
        'stages.0.0.mlp.fc2.weight': (64, 256, 1, 1),
        'stages.3.1.mlp.fc2.bias': (512, ),
        'head.0.weight': (1280, 512, 1, 1),
        'head.2.weight': (1280, ),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    # no biases in the stem (official), only BN buffers besides the conv weights
    assert not any(
        k.startswith('downsample_layers.0.') and k.endswith('bias') and '.2.' not in k
        and '.5.' not in k for k in sd)
    assert sorted({k.split('.')[0] for k in sd}) == ['downsample_layers', 'head', 'stages']


def test_official_constants():
    model = Conv2Former(TINY, with_cls_head=True)
    block = model.stages[1][0]
    # layer scale hard-coded to 1e-6, shape (C, )
    assert torch.all(block.layer_scale_1 == 1e-6) and torch.all(block.layer_scale_2 == 1e-6)
    assert block.layer_scale_1.shape == (16, )
    lns = [m for m in model.modules() if isinstance(m, LayerNorm2d)]
    assert len(lns) == 3 + 2 * 6 + 1  # downsamplers, two per block, head
    assert all(m.eps == 1e-6 for m in lns)
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == 2 and all(m.eps == 1e-5 for m in bns)
    stem = model.downsample_layers[0]
    assert [type(m).__name__ for m in stem
            ] == ['Conv2d', 'GELU', 'BatchNorm2d', 'Conv2d', 'GELU', 'BatchNorm2d', 'Conv2d']
    assert [m.stride for m in stem if isinstance(m, torch.nn.Conv2d)] == [(2, 2), (1, 1), (2, 2)]
    assert block.attn.att[2].kernel_size == (5, 5) and block.attn.att[2].groups == 16


# ------------------------------------------------------------------------------------ numerics


def test_outputs_match_official_fixture():
    model = Conv2Former('n', with_cls_head=True).eval()
    model.load_state_dict(deterministic_state_dict(model.state_dict()))
    x = deterministic_input(2, 64, 80)
    with torch.no_grad():
        outs = list(model(x))
        stage3 = model.stages[3](model.downsample_layers[3](outs[2]))
        outs = outs[:3] + [stage3, outs[3]]
        model.train()
        outs.append(model(x)[-1])
    assert [tuple(o.shape) for o in outs] == [(2, 64, 16, 20), (2, 128, 8, 10), (2, 256, 4, 5),
                                              (2, 512, 2, 2), (2, 1280), (2, 1280)]
    for out, expected in zip(outs, FIXTURE_N):
        torch.testing.assert_close(stats(out), torch.tensor(expected), rtol=1e-4, atol=2e-4)


def test_output_shapes_and_strides():
    model = Conv2Former(TINY).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
        assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 24), (2, 16, 8, 12), (2, 24, 4, 6),
                                                  (2, 32, 2, 3)]
        # odd sizes: conv 3x3 s2 p1, conv 2x2 s2, then three 2x2 s2 convs (floor)
        outs = model(torch.rand(1, 3, 513, 511))
        assert [tuple(o.shape[2:]) for o in outs] == [(128, 128), (64, 64), (32, 32), (16, 16)]
        single = Conv2Former(TINY, out_indices=-2).eval()(torch.rand(1, 3, 64, 64))
        assert len(single) == 1 and single[0].shape == (1, 24, 4, 4)
        cls = Conv2Former(TINY, with_cls_head=True, head_channels=40, out_indices=(1, 3)).eval()
        outs = cls(torch.rand(2, 3, 64, 64))
        assert [tuple(o.shape) for o in outs] == [(2, 16, 8, 8), (2, 40)]


# ------------------------------------------------------------------------------------ training

# ------------------------------------------------------------------------------------ loading


def _official_checkpoint(model, with_classifier=True):
    """The model's weights under the official keys, plus an official-shaped classifier."""
    sd = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith('norm')}
    if with_classifier:
        c4 = model.embed_dims[-1]
        sd.setdefault('head.0.weight', torch.randn(1280, c4, 1, 1))
        sd.setdefault('head.0.bias', torch.randn(1280))
        sd.setdefault('head.2.weight', torch.randn(1280))
        sd.setdefault('head.2.bias', torch.randn(1280))
        sd['pred.weight'] = torch.randn(1000, 1280)
        sd['pred.bias'] = torch.randn(1000)
    return sd


@pytest.mark.parametrize('layout', ['state_dict', 'raw', 'backbone', 'state_dict_ema'])
def test_pretrained_official_layout_loads(tmp_path, layout, mm_log):
    source = Conv2Former(TINY)
    source.init_weights()
    source.load_state_dict(deterministic_state_dict(source.state_dict()))
    sd = _official_checkpoint(source)
    if layout == 'backbone':
        checkpoint = {'state_dict': {'backbone.' + k: v for k, v in sd.items()}}
    elif layout == 'raw':
        checkpoint = sd
    else:
        checkpoint = {layout: sd}
    path = str(tmp_path / 'c2f.pth')
    torch.save(checkpoint, path)

    model = Conv2Former(
        TINY,
        out_norm_cfg=dict(type='LN2d'),
        init_cfg=dict(type='Pretrained', checkpoint=path, use_ema=layout == 'state_dict_ema'))
    model.init_weights()
    assert mm_log.at_least(logging.WARNING) == []
    infos = ' '.join(mm_log)
    assert 'norm0.weight' in infos  # the new output norms are reported as freshly initialised
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    model.eval()
    source.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        # fresh LN output norms: compare the raw stage outputs
        y = x
        for i in range(4):
            y = source.stages[i](source.downsample_layers[i](y))
        torch.testing.assert_close(model(x)[3], model.norm3(y))

    # classification mode keeps head.* and drops only pred.*
    mm_log.clear()
    cls = Conv2Former(
        TINY,
        with_cls_head=True,
        init_cfg=dict(type='Pretrained', checkpoint=path, use_ema=layout == 'state_dict_ema'))
    cls.init_weights()
    assert mm_log.at_least(logging.WARNING) == []
    assert torch.equal(cls.head[0].weight, sd['head.0.weight'])
    assert torch.equal(cls.head[2].bias, sd['head.2.bias'])


def test_pretrained_kernel_mismatch_is_explained(tmp_path):
    source = Conv2Former(dict(TINY, kernel_size=7))
    path = str(tmp_path / 'k7.pth')
    torch.save(_official_checkpoint(source, with_classifier=False), path)
    model = Conv2Former(TINY, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(ValueError, match='kernel_size=7'):
        model.init_weights()
    Conv2Former(
        TINY, kernel_size=7, init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()


def test_default_init_is_official():
    model = Conv2Former(TINY)
    model.init_weights()
    w = model.stages[2][0].mlp.fc1.weight
    assert abs(w.std().item() - 0.02) < 0.004  # PyTorch's default would be about 0.12
    assert torch.all(model.stages[2][0].mlp.fc1.bias == 0)


# ------------------------------------------------------------------------------------ API


def test_bad_arguments_name_the_choices():
    with pytest.raises(ValueError, match="'nano'"):
        Conv2Former('huge')
    with pytest.raises(ValueError, match='kernel_size'):
        Conv2Former(dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], mlp_ratios=[4] * 4))
    with pytest.raises(ValueError, match='4 values'):
        Conv2Former(dict(TINY, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='odd'):
        Conv2Former(TINY, kernel_size=6)


def test_get_layer_id():
    model = Conv2Former(TINY)
    lw = {
        'downsample_layers.0.0.weight': 0,
        'stages.0.0.layer_scale_1': 1,
        'downsample_layers.1.1.weight': 2,
        'stages.1.1.mlp.fc1.weight': 2,
        'downsample_layers.2.0.bias': 3,
        'stages.2.0.attn.v.weight': 3,
        'stages.2.5.attn.v.weight': 4,
        'stages.2.9.attn.v.weight': 6,
        'stages.2.33.attn.v.weight': 11,  # 3 + 33 // 3 = 14, capped at num_layers - 1
        'downsample_layers.3.1.weight': 12,
        'stages.3.0.mlp.pos.bias': 12,
        'norm2.weight': 13,
        'head.0.weight': 13,
    }
    for name, layer_id in lw.items():
        assert model.get_layer_id(name, 12) == layer_id, name
    sw = {
        'downsample_layers.0.0.weight': 0,
        'downsample_layers.3.1.weight': 0,
        'stages.0.0.layer_scale_1': 1,
        'stages.2.30.attn.v.weight': 3,
        'stages.3.0.mlp.pos.bias': 4,
        'norm0.weight': 13,
    }
    for name, layer_id in sw.items():
        assert model.get_layer_id(name, 12, 'stage_wise') == layer_id, name
    # every parameter gets an id in range
    assert all(0 <= model.get_layer_id(n, 12) <= 13 for n, _ in model.named_parameters())


def test_mmpretrain_image_classifier_reproduces_official_layout():
    classifier = mmpretrain_classifier(dict(type='Conv2Former', arch='n'), 1000, 1280)
    assert n_params(classifier) == classifier_params('conv2former_n')
    with torch.no_grad():
        logits = classifier.eval()(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 1000)
