"""Training from scratch starts from each family's official initialisation.

The classifiers are built from the ImageNet configs and initialised as mmengine's Runner does
(``init_weights()``); the statistics are compared with the official formulas:
- MogaNet (``MogaNet._init_weights``): Conv2d ~ N(0, 2 / fan_out), fan_out = kh * kw * out / groups;
  Linear trunc-normal std .02; zero biases; BN 1 / 0; layer scales and sigma scales 1e-5.
- HorNet, Conv2Former, InceptionNeXt: Conv2d and Linear trunc-normal std .02, zero biases; layer
  scales 1e-6 (HorNet's GF ``complex_weight`` trunc-normal std .02); norms 1 / 0.
"""
import functools
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.models import MogaNet

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(autouse=True, scope='module')
def memoised_mmpretrain_metafiles():
    """Read mmpretrain's metafiles once (mmengine re-reads them per ``mmpretrain::`` base)."""
    import mmengine.config.utils as config_utils
    original = config_utils.load
    config_utils.load = functools.lru_cache(maxsize=None)(original)
    yield
    config_utils.load = original


def classifier(name):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', f'imagenet_{name}.py'))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def moganet_std(conv):
    fan_out = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels // conv.groups
    return (2.0 / fan_out)**0.5


def pooled_ratio(layers, expected_std):
    """std of all weights divided by their expected std, pooled (about 1 when the init is right;
    1% precision from the number of weights)."""
    return torch.cat([(m.weight.detach() / expected_std(m)).flatten() for m in layers]).std().item()


def convs_and_linears(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def check_norms_and_biases(model):
    for m in convs_and_linears(model):
        if m.bias is not None:
            assert torch.all(m.bias == 0)
    for m in model.modules():
        if isinstance(m, (_BatchNorm, nn.LayerNorm)) or type(m).__name__ == 'LayerNorm2d':
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)


def test_moganet_official_init():
    model = classifier('moganet_xt')
    convs = [m for m in model.backbone.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 18 * 11 + 3 + 2  # 18 blocks x 11 convs, 3 downsamplers, 2-conv stem
    assert pooled_ratio(convs, moganet_std) == pytest.approx(1, abs=0.02)
    for conv in convs:  # every layer large enough to measure, on its own
        if conv.weight.numel() >= 4000:
            assert conv.weight.std().item() == pytest.approx(moganet_std(conv), rel=0.1), conv
    # depth-wise convs: fan_out counts one output channel per group (std sqrt(2 / k^2))
    dw = model.backbone.blocks3[0].attn.value.DW_conv0
    assert dw.weight.std().item() == pytest.approx((2 / 25)**0.5, rel=0.05)
    head = model.head.fc
    assert head.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert head.weight.abs().max().item() <= 2  # truncated at +-2 (absolute), as timm's
    check_norms_and_biases(model)
    for name, param in model.backbone.named_parameters():
        if name.endswith(('layer_scale_1', 'layer_scale_2', 'sigma.scale')):
            assert torch.all(param == 1e-5), name


def test_moganet_dense_backbone_gets_the_same_init():
    torch.manual_seed(0)
    model = MogaNet('xt')
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert pooled_ratio(convs, moganet_std) == pytest.approx(1, abs=0.02)
    check_norms_and_biases(model)


def test_moganet_init_control_pytorch_default_fails_the_check():
    """PyTorch's default conv init (kaiming-uniform on fan_in, a=sqrt(5)) is far from it."""
    torch.manual_seed(0)
    model = MogaNet('xt')
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        conv.reset_parameters()
    ratio = pooled_ratio(convs, moganet_std)
    assert not 0.98 < ratio < 1.02
    assert any(torch.any(conv.bias != 0) for conv in convs)


@pytest.mark.parametrize('name,scales', [
    ('hornet_t_gf', ('gamma1', 'gamma2')),
    ('conv2former_n', ('layer_scale_1', 'layer_scale_2')),
    ('inceptionnext_a', ('gamma', )),
])
def test_trunc_normal_families_official_init(name, scales):
    model = classifier(name)
    layers = convs_and_linears(model)
    assert pooled_ratio(layers, lambda m: 0.02) == pytest.approx(1, abs=0.02)
    for m in layers:
        if m.weight.numel() >= 4000:
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.1), m
    check_norms_and_biases(model)
    found = [p for n, p in model.backbone.named_parameters() if n.rsplit('.', 1)[-1] in scales]
    assert found and all(torch.all(p == 1e-6) for p in found)
    if name == 'hornet_t_gf':
        filters = [p for n, p in model.named_parameters() if n.endswith('complex_weight')]
        assert len(filters) == 18 + 2
        assert torch.cat([f.flatten() for f in filters]).std().item() == pytest.approx(
            0.02, rel=0.02)
    # the control: PyTorch's default init of the same layers is not std .02
    for m in layers:
        m.reset_parameters()
    assert not 0.98 < pooled_ratio(layers, lambda m: 0.02) < 1.02
