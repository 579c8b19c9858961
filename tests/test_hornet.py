"""Tests of the HorNet backbone, the shared gnConv bricks and the mmpretrain->official converter.

Reference numbers:

* parameter counts, key names and key counts: measured on the official ``hornet.py`` and its dense
  copy (the HorNet repository's ``hornet.py`` and its detection / segmentation backbones);
* ``OFFICIAL_FIXTURES``: outputs of the official ``hornet.py`` classes (timm stubbed, CPU, fp32)
  for :func:`seeded_state` weights and a seeded 160x192 input, rounded to 5 decimals; our model
  matched them within 5e-6 when they were recorded;
* LR scales: the measured examples of the official ``LearningRateDecayOptimizerConstructorHorNet``
  (section 2.7).
"""
import logging
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from small_models import ARCHS, mmpretrain_classifier
from torch import nn

from mmmoga.models.backbones import HorNet
from mmmoga.models.layers import GlobalLocalFilter, GnConv, LayerNorm2d, resize_complex_weight
from mmmoga.utils import extract_state_dict
from numeric_fixtures import assert_same_outputs, load_pretrained

SMALL = ARCHS['hornet']['small']
GF384 = ((24, 13), (12, 7))

# official outputs for seeded_state weights: per output [mean |x|, 5 evenly spaced elements]
OFFICIAL_FIXTURES = {
    'dw':
    dict(
        dense=[[0.82185, 0.16933, -2.0078, 0.03774, 0.46226, -2.69477],
               [0.83397, 1.20451, -0.7316, -0.77728, 2.74218, 1.94013],
               [0.80465, 1.08973, 0.80872, 1.29615, -0.07085, 1.45664],
               [0.79598, 0.04824, -1.48926, 0.55951, 1.1672, 0.70746]],
        cls=[0.79448, 1.23591, 0.18995, 1.04981, 0.19732, 0.52073]),
    'gf':
    dict(
        dense=[[0.82185, 0.16933, -2.0078, 0.03774, 0.46226, -2.69477],
               [0.83397, 1.20451, -0.7316, -0.77728, 2.74218, 1.94013],
               [0.80221, 0.12974, 0.89883, 1.04626, 0.93763, 0.95269],
               [0.79221, 0.75534, -0.20461, 0.91771, 1.22446, 0.1367]],
        cls=[0.79713, 1.16653, -0.47894, -0.9232, -0.17853, -0.90833]),
}


def seeded_state(model: nn.Module, seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    """Deterministic non-trivial weights (gammas ~0.5, LN weights ~1), drawn in sorted-key order."""
    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, value in sorted(model.state_dict().items()):
        noise = torch.randn(value.shape, generator=generator)
        if 'gamma' in key:
            state[key] = 0.5 + 0.1 * noise
        elif value.dim() == 1 and key.endswith('weight'):
            state[key] = 1 + 0.2 * noise
        elif value.dim() == 1:
            state[key] = 0.05 * noise
        else:
            state[key] = 0.1 * noise
    return state


def seeded_input(*shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def small(**kwargs) -> HorNet:
    model = HorNet(SMALL, **kwargs)
    model.load_state_dict(seeded_state(model))
    return model


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def summary(t: torch.Tensor) -> list:
    flat = t.flatten()
    index = torch.linspace(0, flat.numel() - 1, 5).long()
    return [t.abs().mean().item()] + flat[index].tolist()


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: these models are tiny, and on a busy 2-core machine a second
    spinning thread costs more than it gains."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load_converter():
    """The conversion function lives with the family; the command line only wraps it."""
    from mmmoga.models.backbones import hornet
    return hornet


# ------------------------------------------------------------------ structure (official numbers)

CLS_COUNTS = [  # official classification model, with its 1000-class head
    ('tiny', 'dw', None, 22_409_512),
    ('tiny', 'gf', None, 22_991_848),
    ('small', 'dw', None, 49_528_264),
    ('small', 'gf', None, 50_401_768),
    ('base', 'dw', None, 87_256_680),
    ('base', 'gf', None, 88_421_352),
    ('base', 'gf', GF384, 92_099_560),  # hornet_base_gf_img384
]
DENSE_COUNTS = [  # official dense model with norm0-3
    ('tiny', 'dw', None, 21_897_408),
    ('tiny', 'gf', None, 22_479_744),
    ('small', 'dw', None, 48_760_608),
    ('small', 'gf', None, 49_634_112),
    ('base', 'dw', None, 86_233_472),
    ('base', 'gf', None, 87_398_144),
    ('large', 'dw', None, 193_008_192),
    ('large', 'gf', None, 194_755_200),
    ('tiny', 'gf', GF384, 24_318_848),
    ('small', 'gf', GF384, 52_392_768),
    ('base', 'gf', GF384, 91_076_352),
    ('large', 'gf', GF384, 200_272_512),
]


def build_meta(arch, mixer, gf_sizes, **kwargs):
    kwargs = dict(kwargs, mixer=mixer)
    if gf_sizes is not None:
        kwargs['gf_sizes'] = gf_sizes
    with torch.device('meta'):
        return HorNet(arch, **kwargs)


@pytest.mark.parametrize('arch,mixer,gf_sizes,expected', CLS_COUNTS)
def test_param_count_classification(arch, mixer, gf_sizes, expected):
    model = build_meta(arch, mixer, gf_sizes, with_cls_head=True, out_indices=(3, ))
    head = nn.Linear(model.embed_dims[-1], 1000)
    assert count(model) + count(head) == expected


@pytest.mark.parametrize('arch,mixer,gf_sizes,expected', DENSE_COUNTS)
def test_param_count_dense(arch, mixer, gf_sizes, expected):
    assert count(build_meta(arch, mixer, gf_sizes)) == expected


@pytest.mark.parametrize('mixer,gf_sizes,millions,digits', [('dw', None, 193.0, 1),
                                                            ('gf', None, 194.75, 2),
                                                            ('gf', GF384, 200.27, 2)])
def test_param_count_large_without_head(mixer, gf_sizes, millions, digits):
    model = build_meta('large', mixer, gf_sizes, with_cls_head=True, out_indices=(3, ))
    assert round(count(model) / 1e6, digits) == millions


@pytest.mark.parametrize('mixer,cls_keys,dense_keys', [('dw', 560, 564), ('gf', 640, 644)])
def test_official_key_names(mixer, cls_keys, dense_keys):
    cls = build_meta('tiny', mixer, None, with_cls_head=True, out_indices=(3, ))
    dense = build_meta('tiny', mixer, None)
    cls_state, dense_state = cls.state_dict(), dense.state_dict()
    assert len(cls_state) + 2 == cls_keys  # + the official head.{weight,bias}
    assert len(dense_state) == dense_keys
    assert set(dense_state) - set(cls_state) == {
        f'norm{i}.{p}'
        for i in range(4)
        for p in ('weight', 'bias')
    }
    assert set(cls_state) - set(dense_state) == {'norm.weight', 'norm.bias'}
    shapes = {k: tuple(v.shape) for k, v in dense_state.items()}
    expected = {
        'downsample_layers.0.0.weight': (64, 3, 4, 4),
        'downsample_layers.0.0.bias': (64, ),
        'downsample_layers.0.1.weight': (64, ),
        'downsample_layers.1.0.weight': (64, ),
        'downsample_layers.1.1.weight': (128, 64, 2, 2),
        'downsample_layers.3.1.bias': (512, ),
        'stages.0.0.gamma1': (64, ),
        'stages.0.0.gamma2': (64, ),
        'stages.0.0.norm1.weight': (64, ),
        'stages.0.0.norm2.bias': (64, ),
        'stages.0.0.gnconv.proj_in.weight': (128, 64, 1, 1),
        'stages.0.0.gnconv.dwconv.weight': (96, 1, 7, 7),
        'stages.0.0.gnconv.dwconv.bias': (96, ),
        'stages.0.0.gnconv.pws.0.weight': (64, 32, 1, 1),
        'stages.0.0.gnconv.proj_out.weight': (64, 64, 1, 1),
        'stages.0.0.pwconv1.weight': (256, 64),
        'stages.0.0.pwconv2.weight': (64, 256),
        'stages.1.2.gnconv.dwconv.weight': (224, 1, 7, 7),
        'stages.3.1.gnconv.pws.3.weight': (512, 256, 1, 1),
        'norm3.weight': (512, ),
    }
    if mixer == 'gf':
        expected.update({
            'stages.2.0.gnconv.dwconv.complex_weight': (240, 14, 8, 2),
            'stages.2.0.gnconv.dwconv.dw.weight': (240, 1, 3, 3),
            'stages.2.0.gnconv.dwconv.pre_norm.weight': (480, ),
            'stages.2.0.gnconv.dwconv.post_norm.bias': (480, ),
            'stages.3.0.gnconv.dwconv.complex_weight': (496, 7, 4, 2),
        })
        assert 'stages.2.0.gnconv.dwconv.dw.bias' not in shapes
        assert 'stages.1.0.gnconv.dwconv.weight' in shapes  # stages 1-2 keep the 7x7
    else:
        expected['stages.2.0.gnconv.dwconv.weight'] = (480, 1, 7, 7)
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert [len(dense.stages[i]) for i in range(4)] == [2, 3, 18, 2]
    assert [b.gnconv.dims
            for b in (dense.stages[i][0] for i in range(4))] == [[32, 64], [32, 64, 128],
                                                                 [32, 64, 128, 256],
                                                                 [32, 64, 128, 256, 512]]


# ----------------------------------------------------------------------------- forward numerics


@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_matches_official_outputs(mixer):
    x = seeded_input(2, 3, 160, 192)  # stage 3/4 rfft grids (10, 7)/(5, 4): the filter is resized
    dense = small(mixer=mixer).eval()
    cls = small(mixer=mixer, with_cls_head=True, out_indices=(3, )).eval()
    with torch.no_grad():
        outs = dense(x)
        pooled, = cls(x)
    fixture = OFFICIAL_FIXTURES[mixer]
    assert [tuple(o.shape) for o in outs] == [(2, 32, 40, 48), (2, 64, 20, 24), (2, 128, 10, 12),
                                              (2, 256, 5, 6)]
    assert pooled.shape == (2, 256)
    for out, expected in zip(outs, fixture['dense']):
        assert summary(out) == pytest.approx(expected, abs=1e-4)
    assert summary(pooled) == pytest.approx(fixture['cls'], abs=1e-4)


@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_dense_shapes_tiny_224(mixer):
    # shape inference on the meta device runs the same code as a real forward, without the cost;
    # the values of real forwards are checked on the small arch (official fixtures above)
    model = build_meta('tiny', mixer, None).eval()
    outs = model(torch.empty(2, 3, 224, 224, device='meta'))
    assert [tuple(o.shape) for o in outs] == [(2, 64, 56, 56), (2, 128, 28, 28), (2, 256, 14, 14),
                                              (2, 512, 7, 7)]
    assert all(o.is_contiguous() for o in outs)


@pytest.mark.parametrize('mixer,gf_sizes,size', [('dw', None, (513, 511)), ('gf', None, (513, 511)),
                                                 ('gf', GF384, (513, 511)),
                                                 ('gf', GF384, (800, 1216))])
def test_any_input_size(mixer, gf_sizes, size):
    kwargs = dict(mixer=mixer) if gf_sizes is None else dict(mixer=mixer, gf_sizes=gf_sizes)
    model = small(**kwargs).eval()
    h, w = size
    with torch.no_grad():
        outs = model(seeded_input(1, 3, h, w))
    expected = []
    h, w = h // 4, w // 4
    for c in SMALL['embed_dims']:
        expected.append((1, c, h, w))
        h, w = h // 2, w // 2
    assert [tuple(o.shape) for o in outs] == expected
    assert all(torch.isfinite(o).all() for o in outs)


def test_layernorm2d_equals_official_formula():
    norm = LayerNorm2d(48)
    assert norm.eps == 1e-6 and set(norm.state_dict()) == {'weight', 'bias'}
    with torch.no_grad():
        norm.weight.copy_(seeded_input(48, seed=2))
        norm.bias.copy_(seeded_input(48, seed=3))
    for scale, shift in [(1., 0.), (100., 5.), (1e-2, 0.3)]:
        x = seeded_input(2, 48, 9, 13) * scale + shift
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        ref = (x - mean) / torch.sqrt(var + 1e-6)
        ref = norm.weight[:, None, None] * ref + norm.bias[:, None, None]
        assert torch.allclose(norm(x), ref, atol=2e-5, rtol=1e-5)


def test_global_local_filter():
    gf = GlobalLocalFilter(16, h=6, w=4)
    assert {
        k: tuple(v.shape)
        for k, v in gf.state_dict().items()
    } == {
        'dw.weight': (8, 1, 3, 3),
        'complex_weight': (8, 6, 4, 2),
        'pre_norm.weight': (16, ),
        'pre_norm.bias': (16, ),
        'post_norm.weight': (16, ),
        'post_norm.bias': (16, )
    }
    gf.load_state_dict(seeded_state(gf))
    x = seeded_input(2, 16, 6, 6)  # rfft grid (6, 4): the stored filter is used as it is
    with torch.no_grad():
        out = gf(x)
        # reference: local/global halves, interleaved channel-wise (not concatenated)
        y = gf.pre_norm(x)
        local = gf.dw(y[:, :8])
        glob = torch.fft.irfft2(
            torch.fft.rfft2(y[:, 8:], dim=(2, 3), norm='ortho') *
            torch.view_as_complex(gf.complex_weight.contiguous()),
            s=(6, 6),
            dim=(2, 3),
            norm='ortho')
        mixed = torch.empty_like(y)
        mixed[:, 0::2], mixed[:, 1::2] = local, glob
        assert torch.allclose(out, gf.post_norm(mixed), atol=1e-5)
        # another size: the filter is bilinearly resized (align_corners=True) to the rfft grid
        x = seeded_input(1, 16, 11, 9)
        big = GlobalLocalFilter(16, h=11, w=5)
        state = dict(
            gf.state_dict(), complex_weight=resize_complex_weight(gf.complex_weight, (11, 5)))
        big.load_state_dict(state)
        assert torch.allclose(gf(x), big(x), atol=1e-6)
    with pytest.raises(ValueError, match='even'):
        GlobalLocalFilter(15)


def test_resize_complex_weight():
    weight = seeded_input(3, 4, 3, 2)
    resized = resize_complex_weight(weight, (7, 5))
    assert resized.shape == (3, 7, 5, 2)
    for plane in range(2):  # real and imaginary planes are resized separately
        ref = F.interpolate(
            weight[None, ..., plane], size=(7, 5), mode='bilinear', align_corners=True)[0]
        assert torch.allclose(resized[..., plane], ref)
    # align_corners=True keeps the corners and puts the midpoint halfway
    assert torch.equal(resized[:, 0, 0], weight[:, 0, 0])
    assert torch.equal(resized[:, -1, -1], weight[:, -1, -1])
    assert torch.allclose(resized[:, 0, 1], (weight[:, 0, 0] + weight[:, 0, 1]) / 2)
    assert torch.allclose(resized[:, 0, 2], weight[:, 0, 1])
    assert torch.allclose(resized[:, 2, 0], weight[:, 1, 0])
    assert resize_complex_weight(weight, (4, 3)) is weight


def test_gnconv_brick():
    # HorFPN-style use: in != channels, scale 1, another output width
    conv = GnConv(96, 32, order=2, scale=1.0, out_channels=48)
    shapes = {k: tuple(v.shape) for k, v in conv.state_dict().items()}
    assert shapes['proj_in.weight'] == (64, 96, 1, 1)
    assert shapes['dwconv.weight'] == (48, 1, 7, 7) and shapes['dwconv.bias'] == (48, )
    assert shapes['pws.0.weight'] == (32, 16, 1, 1)
    assert shapes['proj_out.weight'] == (48, 32, 1, 1)
    assert conv(torch.rand(2, 96, 10, 12)).shape == (2, 48, 10, 12)
    no_proj = GnConv(96, 32, order=3, proj_out=False, kernel_size=3)
    assert isinstance(no_proj.proj_out, nn.Identity)
    assert no_proj.dwconv.kernel_size == (3, 3)
    assert no_proj(torch.rand(1, 96, 5, 7)).shape == (1, 32, 5, 7)
    gf = GnConv(256, 256, order=2, mixer='gf', gf_size=(32, 17), scale=1.0)
    assert gf.dwconv.complex_weight.shape == (192, 32, 17, 2)
    assert gf(torch.rand(1, 256, 13, 19)).shape == (1, 256, 13, 19)
    with pytest.raises(ValueError, match=r"valid choices: \['dw', 'gf'\]"):
        GnConv(32, 32, order=2, mixer='conv')
    with pytest.raises(ValueError, match='divisible'):
        GnConv(32, 36, order=4)
    with pytest.raises(ValueError, match='proj_out'):
        GnConv(32, 32, order=2, proj_out=False, out_channels=16)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
def test_gf_autocast_runs_fft_in_fp32(monkeypatch, dtype):
    """cuFFT takes fp16 only at power-of-two sizes, and the filter is fp32: under either autocast
    dtype the Fourier part runs in fp32 with autocast off."""
    seen = []
    rfft2 = torch.fft.rfft2

    def recording_rfft2(x, *args, **kwargs):
        seen.append((x.dtype, torch.is_autocast_enabled('cpu')))
        return rfft2(x, *args, **kwargs)

    monkeypatch.setattr(torch.fft, 'rfft2', recording_rfft2)
    model = small(mixer='gf').eval()
    x = seeded_input(2, 3, 96, 128)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=dtype):
            outs = model(x)
    assert len(seen) == 2 * 3  # 3 GF blocks per forward
    assert set(seen) == {(torch.float32, False)}
    for a, b in zip(ref, outs):
        assert torch.isfinite(b).all()
        assert (a - b.float()).abs().max() < 0.05 * a.abs().max()
    # the GF brick on its own, bf16 local branch next to the fp32 FFT
    gf = GlobalLocalFilter(16, h=6, w=4)
    with torch.autocast('cpu', dtype=dtype):
        y = gf(torch.rand(1, 16, 6, 6))
    assert torch.isfinite(y.float()).all()


# ------------------------------------------------------------------------------ training options

# ------------------------------------------------------------------------------------ checkpoints


def save_official(state, path, prefix='module.'):
    torch.save({'model': OrderedDict((prefix + k, v) for k, v in state.items())}, path)


@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_pretrained_official_layout_round_trip(tmp_path, mm_log, mixer):
    source = small(mixer=mixer).eval()
    state = OrderedDict(source.state_dict())
    state['norm.weight'] = torch.ones(256)  # classification-only parts of an official file
    state['norm.bias'] = torch.zeros(256)
    state['head.weight'] = torch.zeros(10, 256)
    state['head.bias'] = torch.zeros(10)
    path = str(tmp_path / 'hornet.pth')
    save_official(state, path)
    model = load_pretrained(HorNet, path, SMALL, mixer=mixer)
    assert_same_outputs(source, model, seeded_input(1, 3, 96, 80))
    assert not mm_log.at_least(logging.WARNING)


def test_pretrained_classification_mode(tmp_path, mm_log):
    source = small(mixer='gf', with_cls_head=True, out_indices=(3, )).eval()
    state = OrderedDict(source.state_dict())
    state['head.weight'] = torch.zeros(10, 256)
    state['head.bias'] = torch.zeros(10)
    path = str(tmp_path / 'hornet_cls.pth')
    save_official(state, path)
    model = load_pretrained(HorNet, path, SMALL, mixer='gf', with_cls_head=True, out_indices=(3, ))
    assert_same_outputs(source, model, seeded_input(2, 3, 64, 64))
    assert not mm_log.at_least(logging.WARNING)


def test_imagenet_checkpoint_into_dense_model_reports_fresh_norms(tmp_path, mm_log):
    source = small(with_cls_head=True, out_indices=(3, ))
    path = str(tmp_path / 'in1k.pth')
    save_official(source.state_dict(), path, prefix='')
    model = HorNet(SMALL, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert not mm_log.at_least(logging.WARNING)
    info = '\n'.join(mm_log.at_least(logging.INFO))
    assert all(f'norm{i}.weight' in info for i in range(4))
    assert 'norm.weight' in info  # dropped, said so
    assert torch.equal(model.norm2.weight, torch.ones(128))
    assert torch.equal(model.stages[2][1].gamma2, source.stages[2][1].gamma2)


def test_pretrained_gf_filter_resized_on_load(tmp_path, mm_log):
    source = small(mixer='gf')  # (14, 8) / (7, 4)
    path = str(tmp_path / 'gf224.pth')
    save_official(source.state_dict(), path)
    model = HorNet(
        SMALL, mixer='gf', gf_sizes=GF384, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    assert not mm_log.at_least(logging.WARNING)
    for key, shape in [('stages.2.0.gnconv.dwconv.complex_weight', (120, 24, 13, 2)),
                       ('stages.2.1.gnconv.dwconv.complex_weight', (120, 24, 13, 2)),
                       ('stages.3.0.gnconv.dwconv.complex_weight', (248, 12, 7, 2))]:
        loaded = model.state_dict()[key]
        src = source.state_dict()[key]
        assert loaded.shape == shape
        expected = F.interpolate(
            src.permute(3, 0, 1, 2), size=shape[1:3], mode='bilinear',
            align_corners=True).permute(1, 2, 3, 0)
        assert torch.allclose(loaded, expected)
        assert torch.equal(loaded[:, 0, 0], src[:, 0, 0])
        assert torch.equal(loaded[:, -1, -1], src[:, -1, -1])
        assert any(key in m and 'Resized' in m for m in mm_log.at_least(logging.INFO))
    with torch.no_grad():
        outs = model.eval()(seeded_input(1, 3, 384, 384))
    assert outs[2].shape == (1, 128, 24, 24)


def test_mmpretrain_image_classifier_layout():
    """Classification mode in an mmpretrain ImageClassifier: official ``norm``/``head`` are
    ``backbone.norm``/``head.fc``; the parameter count is the official one."""

    with torch.device('meta'):
        assert count(mmpretrain_classifier(dict(type='mmmoga.HorNet', arch='tiny'), 1000,
                                           512)) == 22_409_512
    model = mmpretrain_classifier(dict(type='mmmoga.HorNet', arch=SMALL), 10, 256).eval()
    assert isinstance(model.backbone, HorNet)
    official = OrderedDict(seeded_state(model.backbone))
    official['head.weight'] = seeded_input(10, 256)
    official['head.bias'] = seeded_input(10)
    mapped = {
        ('head.fc.' + k[5:]) if k.startswith('head.') else 'backbone.' + k: v
        for k, v in official.items()
    }
    model.load_state_dict(mapped, strict=True)
    x = seeded_input(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
        expected = F.linear(model.backbone(x)[0], official['head.weight'], official['head.bias'])
    assert torch.allclose(logits, expected, atol=1e-6)


# ------------------------------------------------------------------------------------- converter


def to_mmpretrain_layout(state, classification):
    """The mmpretrain layout of an official state dict (what ``hornet2mmpretrain.py`` writes)."""
    out = OrderedDict()
    for key, value in state.items():
        if key.startswith('head.'):
            out['head.fc.' + key[5:]] = value
            continue
        key = key.replace('gnconv.pws', 'gnconv.projs')
        key = key.replace('gamma1', 'gamma1.weight').replace('gamma2', 'gamma2.weight')
        if classification:
            key = key.replace('norm.', 'norm3.') if key.startswith('norm.') else key
        out['backbone.' + key] = value
    return out


def test_converter_classification_checkpoint(tmp_path):
    converter = load_converter()
    source = small(mixer='gf', with_cls_head=True, out_indices=(3, )).eval()
    official = OrderedDict(source.state_dict())
    official['head.weight'] = seeded_input(10, 256)
    official['head.bias'] = seeded_input(10)
    mmpretrain = to_mmpretrain_layout(official, classification=True)
    assert 'backbone.stages.3.0.gnconv.projs.3.weight' in mmpretrain
    assert 'backbone.stages.2.1.gamma1.weight' in mmpretrain and 'backbone.norm3.bias' in mmpretrain
    checkpoint = {'meta': {}, 'state_dict': dict(mmpretrain)}
    checkpoint['state_dict']['data_preprocessor.mean'] = torch.zeros(3)

    converted, dropped = converter.convert_hornet_mmpretrain(
        extract_state_dict(checkpoint, prefix=''))
    assert list(converted) == list(official)
    assert all(torch.equal(converted[k], official[k]) for k in official)
    assert dropped == ['data_preprocessor.mean']

    no_head, dropped = converter.convert_hornet_mmpretrain(mmpretrain, drop_head=True)
    assert set(official) - set(no_head) == {'head.weight', 'head.bias'}
    assert set(dropped) == {'head.fc.weight', 'head.fc.bias'}

    # the converted file loads through init_cfg and gives the same outputs
    path = str(tmp_path / 'converted.pth')
    torch.save({'model': converted}, path)
    model = load_pretrained(HorNet, path, SMALL, mixer='gf', with_cls_head=True, out_indices=(3, ))
    assert_same_outputs(source, model, seeded_input(1, 3, 64, 64))


def test_converter_dense_checkpoint_and_errors():
    converter = load_converter()
    official = OrderedDict(small().state_dict())
    mmpretrain = to_mmpretrain_layout(official, classification=False)
    mmpretrain['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)  # a detector checkpoint
    converted, dropped = converter.convert_hornet_mmpretrain(mmpretrain)  # auto -> dense
    assert list(converted) == list(official)
    assert dropped == ['neck.lateral_convs.0.conv.weight']
    # a bare (unprefixed) mmpretrain backbone state dict
    bare = OrderedDict(
        (k[len('backbone.'):], v) for k, v in mmpretrain.items() if k.startswith('backbone.'))
    converted, _ = converter.convert_hornet_mmpretrain(bare, layout='dense')
    assert list(converted) == list(official)
    with pytest.raises(ValueError, match="valid choices: \\['auto', 'cls', 'dense'\\]"):
        converter.convert_hornet_mmpretrain(bare, layout='det')
    bare['stages.0.0.unknown.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='stages.0.0.unknown.weight'):
        converter.convert_hornet_mmpretrain(bare)


# ------------------------------------------------------------------------------------ arguments


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Unknown HorNet arch 'huge'.*'base'.*'tiny'"):
        HorNet('huge')
    with pytest.raises(ValueError, match=r"valid choices: \['dw', 'gf'\]"):
        HorNet(SMALL, mixer='7x7')
    with pytest.raises(ValueError, match='exactly the keys'):
        HorNet(dict(embed_dims=[32, 64, 128, 256], depths=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match='gf_sizes'):
        HorNet(SMALL, mixer='gf', gf_sizes=((14, 8), ))
    with pytest.raises(ValueError, match='out_indices'):
        HorNet(SMALL, out_indices=4)
    with pytest.raises(ValueError, match='out_indices must include 3'):
        HorNet(SMALL, with_cls_head=True, out_indices=(1, 2))
    # mmpretrain's names for the same things name ours
    with pytest.raises(
            TypeError,
            match=r"no argument 'gap_before_final_norm': write "
            r"with_cls_head=True, out_indices=\(3, \)"):
        HorNet(SMALL, gap_before_final_norm=True)
    with pytest.raises(TypeError, match="no argument 'out_norms': write out_norm_cfg=None"):
        HorNet(SMALL, out_norms=False)
    with pytest.raises(ValueError, match='divisible'):
        HorNet(dict(embed_dims=[12, 24, 48, 72], depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]))
    with pytest.raises(ValueError, match='decay_type'):
        HorNet(SMALL).get_layer_id('stages.0.0.gamma1', 12, 'block_wise')


# --------------------------------------------------------------------------- layer-wise LR decay


def lr_scale(model, name, rate, num_layers, decay_type):
    return rate**(num_layers + 1 - model.get_layer_id(name, num_layers, decay_type))


def test_layer_wise_decay_measured_examples():
    model = build_meta('tiny', 'gf', None)
    names = [n for n, _ in model.named_parameters()]
    ids = {n: model.get_layer_id(n, 12, 'layer_wise') for n in names}
    assert set(ids.values()) == set(range(14))

    def scale(name, rate=0.7, num_layers=12):
        return lr_scale(model, name, rate, num_layers, 'layer_wise')

    assert scale('downsample_layers.0.0.weight') == pytest.approx(0.0097, abs=5e-5)
    assert scale('stages.0.1.gnconv.proj_in.weight') == pytest.approx(0.0138, abs=5e-5)
    assert scale('downsample_layers.1.1.weight') == scale('stages.1.0.gamma1')
    assert scale('stages.2.0.gamma1') == pytest.approx(0.028, abs=5e-4)
    assert scale('stages.2.17.pwconv1.weight') == pytest.approx(0.49)
    assert scale('stages.3.1.gnconv.dwconv.complex_weight') == pytest.approx(0.7)
    assert scale('downsample_layers.3.1.weight') == pytest.approx(0.7)
    assert scale('norm3.weight') == scale('neck.conv.weight') == 1.0
    assert model.get_layer_id('stages.2.5.norm1.weight', 12) == 5
    # HorFPN det configs: rate 0.95, num_layers 6; the stage-4 id stays 12
    assert model.get_layer_id('stages.3.0.gamma2', 6) == 12
    assert scale('stages.3.0.gamma2', 0.95, 6) == pytest.approx(1.29, abs=5e-3)
    assert scale('downsample_layers.3.0.weight', 0.95, 6) == pytest.approx(1.29, abs=5e-3)
    assert scale('stages.2.17.gamma1', 0.95, 6) == pytest.approx(1.23, abs=5e-3)
    assert scale('neck.lateral_convs.0.conv.weight', 0.95, 6) == 1.0
    assert scale('downsample_layers.0.1.bias', 0.95, 6) == pytest.approx(0.70, abs=5e-3)


def test_stage_wise_decay_measured_examples():
    model = build_meta('tiny', 'dw', None)

    def scale(name, rate=0.9, num_layers=12):
        return lr_scale(model, name, rate, num_layers, 'stage_wise')

    for i in range(4):
        assert scale(f'downsample_layers.{i}.0.weight') == pytest.approx(0.254, abs=5e-4)
    for i, expected in enumerate([0.282, 0.314, 0.349, 0.387]):
        assert scale(f'stages.{i}.0.gnconv.pws.0.weight') == pytest.approx(expected, abs=5e-4)
    assert scale('norm0.weight') == scale('decode_head.conv_seg.weight') == 1.0
    assert scale('stages.3.1.pwconv2.bias', 0.9, 6) == pytest.approx(0.729)
