import argparse

import pytest
import torch
import torch.nn.functional as F
from small_models import ARCHS

from mmmoga.models import MogaNet
from numeric_fixtures import (assert_same_outputs, classifier_params, load_pretrained, randomise,
                              relative_error)

# official counts: dense params (no head) and number of state-dict keys of the classification model
# (BN buffers included); the classifier's count is its metafile entry's (imagenet_moganet_<short>)
OFFICIAL = {
    'xtiny': ('xt', 2_763_066, 705),
    'tiny': ('t', 4_940_332, 777),
    'small': ('s', 24_822_675, 741),
    'base': ('b', 43_207_475, 1317),
    'large': ('l', 81_839_978, 2145),
    'xlarge': ('xl', 180_030_924, 2217),
}
SMALL_ARCH = ARCHS['moganet']['small']


def num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch', OFFICIAL)
def test_official_parameter_counts_and_keys(arch):
    with torch.device('meta'):
        model = MogaNet(arch)
    short, dense, keys = OFFICIAL[arch]
    cls = classifier_params(f'moganet_{short}')
    assert num_params(model) == dense
    head = model.embed_dims[-1] * 1000 + 1000  # Linear(C4, 1000)
    assert num_params(model) + head == cls
    assert len(model.state_dict()) + 2 == keys  # + head.weight, head.bias


def test_official_key_names_and_shapes():
    shapes = {k: tuple(v.shape) for k, v in MogaNet('tiny').state_dict().items()}
    expected = {
        'patch_embed1.projection.0.weight': (16, 3, 3, 3),
        'patch_embed1.projection.1.running_var': (16, ),
        'patch_embed1.projection.3.weight': (32, 16, 3, 3),
        'patch_embed1.projection.4.weight': (32, ),
        'patch_embed2.projection.weight': (64, 32, 3, 3),
        'patch_embed2.norm.weight': (64, ),
        'blocks1.0.layer_scale_1': (1, 32, 1, 1),
        'blocks1.0.layer_scale_2': (1, 32, 1, 1),
        'blocks1.0.norm1.running_mean': (32, ),
        'blocks1.0.attn.proj_1.weight': (32, 32, 1, 1),
        'blocks1.0.attn.gate.weight': (32, 32, 1, 1),
        'blocks1.0.attn.proj_2.bias': (32, ),
        'blocks1.0.attn.value.DW_conv0.weight': (32, 1, 5, 5),
        'blocks1.0.attn.value.DW_conv1.weight': (12, 1, 5, 5),
        'blocks1.0.attn.value.DW_conv2.weight': (16, 1, 7, 7),
        'blocks1.0.attn.value.PW_conv.weight': (32, 32, 1, 1),
        'blocks1.0.attn.sigma.scale': (1, 32, 1, 1),
        'blocks1.0.mlp.fc1.weight': (256, 32, 1, 1),
        'blocks1.0.mlp.dwconv.weight': (256, 1, 3, 3),
        'blocks1.0.mlp.fc2.weight': (32, 256, 1, 1),
        'blocks1.0.mlp.decompose.weight': (1, 256, 1, 1),
        'blocks1.0.mlp.decompose.bias': (1, ),
        'blocks1.0.mlp.sigma.scale': (1, 256, 1, 1),
        'norm4.num_batches_tracked': (),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    # channel split 1:3:4 of the multi-order DW convs, per stage (official tiny: e0, e1, e2)
    model = MogaNet('tiny')
    splits = [(b[0].attn.value.split_0, b[0].attn.value.split_1, b[0].attn.value.split_2)
              for b in (model.blocks1, model.blocks2, model.blocks3, model.blocks4)]
    assert splits == [(4, 12, 16), (8, 24, 32), (16, 48, 64), (32, 96, 128)]


def test_dense_output_shapes_tiny():
    model = MogaNet('tiny').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape[1:]) for o in outs] == [(32, 56, 56), (64, 28, 28), (128, 14, 14),
                                                  (256, 7, 7)]


@pytest.mark.parametrize('size,expected', [((513, 511), [(129, 128), (65, 64), (33, 32), (17, 16)]),
                                           ((224, 224), [(56, 56), (28, 28), (14, 14), (7, 7)]),
                                           ((97, 31), [(25, 8), (13, 4), (7, 2), (4, 1)])])
def test_any_input_size(size, expected):
    model = MogaNet(SMALL_ARCH).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape[2:]) for o in outs] == expected
    assert [o.shape[1] for o in outs] == SMALL_ARCH['embed_dims']


def test_out_indices():
    model = MogaNet(SMALL_ARCH, out_indices=(1, -1)).eval()
    assert model.out_indices == (1, 3)
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 64]
    model = MogaNet(SMALL_ARCH, out_indices=1).eval()
    assert len(model(torch.randn(1, 3, 64, 64))) == 1


def test_bad_arguments_name_the_valid_choices():
    with pytest.raises(ValueError, match=r"Unknown MogaNet arch 'huge'.*'xtiny'"):
        MogaNet('huge')
    with pytest.raises(ValueError, match='exactly the keys'):
        MogaNet(dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match='4 values'):
        MogaNet(dict(embed_dims=[8, 16, 32], depths=[1, 1, 1], ffn_ratios=[4, 4, 4]))
    with pytest.raises(ValueError, match=r'out_indices must be stage indices in \[0, 3\]'):
        MogaNet(SMALL_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match=r'frozen_stages must be in \[-1, 3\]'):
        MogaNet(SMALL_ARCH, frozen_stages=4)


def official_checkpoint(model, tmp_path, wrap):
    """A file laid out as the official releases: head keys, wrappers, a pickled Namespace."""
    state_dict = {k: v.clone() for k, v in model.state_dict().items()}
    state_dict['head.weight'] = torch.randn(1000, model.embed_dims[-1])
    state_dict['head.bias'] = torch.zeros(1000)
    if wrap == 'module':
        state_dict = {'module.' + k: v for k, v in state_dict.items()}
    checkpoint = {
        'state_dict': state_dict,
        'state_dict_ema': {},
        'arch': 'small',
        'args': argparse.Namespace(model='moganet_small', lr=1e-3)
    }
    if wrap == 'model':
        checkpoint = {'model': state_dict}
    path = tmp_path / f'official_{wrap}.pth.tar'
    torch.save(checkpoint, path)
    return str(path)


@pytest.mark.parametrize('wrap', ['state_dict', 'module', 'model'])
def test_pretrained_official_checkpoint_loads_without_conversion(tmp_path, wrap, mm_log):
    torch.manual_seed(0)
    source = MogaNet(SMALL_ARCH).eval()
    for m in source.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    path = official_checkpoint(source, tmp_path, wrap)

    model = load_pretrained(MogaNet, path, SMALL_ARCH)
    assert_same_outputs(source, model, torch.randn(1, 3, 64, 64))
    text = '\n'.join(mm_log)
    assert f'Loaded {len(source.state_dict())} tensors into MogaNet from {path}' in text
    assert 'Missing keys' not in text and 'Unexpected keys' not in text
    # the pickled argparse.Namespace loads under weights_only (scoped allow-list), no full unpickle
    assert 'full unpickle' not in text


def test_pretrained_reports_missing_and_unexpected_keys(tmp_path, mm_log):
    source = MogaNet(SMALL_ARCH)
    state_dict = source.state_dict()
    state_dict.pop('norm4.weight')
    state_dict['blocks1.0.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'partial.pth'
    torch.save(state_dict, path)
    model = MogaNet(SMALL_ARCH, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    text = '\n'.join(mm_log)
    assert "Missing keys in" in text and "'norm4.weight'" in text
    assert "Unexpected keys in" in text and "'blocks1.0.extra.weight'" in text


def test_pretrained_missing_file_is_a_clear_error():
    model = MogaNet(SMALL_ARCH, init_cfg=dict(type='Pretrained', checkpoint='/nope/moga.pth'))
    with pytest.raises(FileNotFoundError, match='/nope/moga.pth'):
        model.init_weights()


def test_layer_ids_follow_the_official_rules():
    model = MogaNet('small')  # stage 3 has 12 blocks
    ids = {name: model.get_layer_id(name, 12) for name, _ in model.named_parameters()}
    assert ids['patch_embed1.projection.0.weight'] == 0
    assert ids['blocks1.1.attn.gate.weight'] == 2
    assert ids['patch_embed2.projection.weight'] == 3 == ids['blocks2.0.mlp.fc1.weight']
    assert ids['patch_embed3.norm.weight'] == 4
    assert [ids[f'blocks3.{j}.layer_scale_1']
            for j in range(12)] == [3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]
    assert ids['patch_embed4.projection.weight'] == 12 == ids['blocks4.1.norm2.weight']
    assert ids['norm1.weight'] == 13 == ids['norm4.bias']
    assert model.get_layer_id('blocks3.30.mlp.fc1.weight', 12) == 11  # capped
    # stage_wise: the official rule reads the block index
    assert model.get_layer_id('patch_embed3.norm.weight', 12, 'stage_wise') == 0
    assert model.get_layer_id('blocks3.5.mlp.fc1.weight', 12, 'stage_wise') == 6
    assert model.get_layer_id('norm2.weight', 12, 'stage_wise') == 13
    with pytest.raises(ValueError, match='layer_wise'):
        model.get_layer_id('blocks1.0.mlp.fc1.weight', 12, 'block_wise')


def test_extract_backbone_converter(tmp_path):
    import subprocess
    import sys
    torch.manual_seed(0)
    source = MogaNet(SMALL_ARCH).eval()
    full = {
        'meta': {
            'epoch': 12
        },
        'state_dict': {
            **{
                'backbone.' + k: v
                for k, v in source.state_dict().items()
            }, 'neck.lateral_convs.0.conv.weight': torch.zeros(4, 16, 1, 1)
        }
    }
    torch.save(full, tmp_path / 'detector.pth')
    subprocess.run([
        sys.executable, 'tools/model_converters/extract_backbone.py',
        str(tmp_path / 'detector.pth'),
        str(tmp_path / 'backbone.pth')
    ],
                   check=True,
                   cwd=__file__.rsplit('/tests/', 1)[0])
    saved = torch.load(tmp_path / 'backbone.pth', weights_only=True)['state_dict']
    assert set(saved) == set(source.state_dict())
    model = load_pretrained(MogaNet, tmp_path / 'backbone.pth', SMALL_ARCH)
    assert_same_outputs(source, model, torch.randn(1, 3, 64, 64))


# ------------------------------------------------------------- attn_force_fp32 (architectures 1.4)


def moga_reference(attn, x, double_silu):
    """The official MOGA formula written with the module's weights, in float64."""
    p = {k: v.double() for k, v in attn.state_dict().items()}
    x = x.double()
    y = F.conv2d(x, p['proj_1.weight'], p['proj_1.bias'])
    y = F.silu(y + p['sigma.scale'] * (y - y.mean((2, 3), keepdim=True)))
    g = F.silu(F.conv2d(y, p['gate.weight'], p['gate.bias']))
    value = attn.value
    v0 = F.conv2d(
        y, p['value.DW_conv0.weight'], p['value.DW_conv0.bias'], padding=2, groups=y.shape[1])
    e0, e1 = value.split_0, value.split_1
    v1 = F.conv2d(
        v0[:, e0:e0 + e1],
        p['value.DW_conv1.weight'],
        p['value.DW_conv1.bias'],
        padding=4,
        dilation=2,
        groups=e1)
    v2 = F.conv2d(
        v0[:, e0 + e1:],
        p['value.DW_conv2.weight'],
        p['value.DW_conv2.bias'],
        padding=9,
        dilation=3,
        groups=value.split_2)
    v = F.silu(
        F.conv2d(
            torch.cat([v0[:, :e0], v1, v2], 1), p['value.PW_conv.weight'], p['value.PW_conv.bias']))
    if double_silu:
        g, v = F.silu(g), F.silu(v)
    return F.conv2d(g * v, p['proj_2.weight'], p['proj_2.bias']) + x


def moga_pair(channels=32):
    from mmmoga.models.backbones.moganet import MultiOrderGatedAggregation
    torch.manual_seed(0)
    off = MultiOrderGatedAggregation(channels)
    with torch.no_grad():
        off.sigma.scale.uniform_(-1, 1)  # make the decomposition matter
    on = MultiOrderGatedAggregation(channels, force_fp32=True)
    on.load_state_dict(off.state_dict())
    return off.eval(), on.eval()


def test_attn_force_fp32_fp32_path_is_the_official_double_silu():
    off, on = moga_pair()
    x = 2 * torch.randn(2, 32, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out_off, out_on = off(x), on(x)
    ref_off, ref_on = moga_reference(off, x, False), moga_reference(on, x, True)
    assert out_off.dtype == out_on.dtype == torch.float32
    torch.testing.assert_close(out_off.double(), ref_off, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_on.double(), ref_on, rtol=1e-5, atol=1e-5)
    # as released, True and False compute different functions (SiLU applied twice), also in fp32
    gap = (out_on - out_off).abs().max().item()
    assert gap > 1e-2, gap
    assert gap == pytest.approx((ref_on - ref_off).abs().max().item(), rel=1e-3)


def test_attn_force_fp32_under_autocast_gates_in_fp32():
    off, on = moga_pair()
    x = 2 * torch.randn(2, 32, 12, 12, generator=torch.Generator().manual_seed(1))
    seen = {}
    for name, module in (('off', off), ('on', on)):
        handle = module.proj_2.register_forward_hook(lambda mod, inputs, output, name=name: seen.
                                                     update({name:
                                                             (inputs[0].dtype, output.dtype)}))
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
            seen[name + '_out'] = module(x)
        handle.remove()
    assert seen['off'] == (torch.bfloat16, torch.bfloat16)  # control: autocast reaches proj_2
    assert seen['on'] == (torch.float32, torch.float32)
    assert seen['on_out'].dtype == torch.float32
    ref_off, ref_on = moga_reference(off, x, False), moga_reference(on, x, True)
    # each setting follows its own official formula (bf16 tolerance upstream of the gating) ...
    err_on = (seen['on_out'].double() - ref_on).abs().max().item()
    err_off = (seen['off_out'].double() - ref_off).abs().max().item()
    gap = (ref_on - ref_off).abs().max().item()
    assert err_on < 0.1 * gap and err_off < 0.1 * gap, (err_on, err_off, gap)
    # ... and not the other one's
    assert (seen['on_out'].double() - ref_off).abs().max().item() > 0.5 * gap


def test_attn_force_fp32_backbone_option():
    model = MogaNet(SMALL_ARCH, attn_force_fp32=True).eval()
    reference = MogaNet(SMALL_ARCH)
    assert list(model.state_dict()) == list(reference.state_dict())  # key names unchanged
    attns = [m for m in model.modules() if type(m).__name__ == 'MultiOrderGatedAggregation']
    assert len(attns) == sum(SMALL_ARCH['depths']) and all(m.force_fp32 for m in attns)
    assert not any(m.force_fp32
                   for m in reference.modules() if type(m).__name__ == 'MultiOrderGatedAggregation')
    dtypes = []
    for attn in attns:
        attn.proj_2.register_forward_hook(lambda mod, inputs, out: dtypes.append(out.dtype))
    x = torch.randn(1, 3, 64, 64)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()
    assert dtypes == [torch.float32] * len(attns)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('drop_path_rate', [0., 0.2])
def test_folded_scales_computes_the_official_function(channels_last, drop_path_rate):
    """The folded computation (default) against the op-by-op one: outputs in eval and training,
    parameter gradients and BN statistics, in float32 against a float64 op-by-op reference."""
    folded = randomise(MogaNet(SMALL_ARCH, drop_path_rate=drop_path_rate))
    plain = MogaNet(SMALL_ARCH, drop_path_rate=drop_path_rate, reference_ops=True)
    plain.load_state_dict(folded.state_dict())
    reference = MogaNet(SMALL_ARCH, drop_path_rate=drop_path_rate, reference_ops=True).double()
    reference.load_state_dict(folded.state_dict())
    assert list(folded.state_dict()) == list(plain.state_dict())  # key names unchanged
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        folded, plain = (m.to(memory_format=torch.channels_last) for m in (folded, plain))
    with torch.no_grad():
        outs = [m.eval()(x) for m in (folded, plain)]
        ref = reference.eval()(x.double())
    # within fp32 rounding of the float64 function, as the op-by-op fp32 model is
    assert relative_error(outs[0], ref) < 1e-5 and relative_error(outs[1], ref) < 1e-5
    assert relative_error(outs[0], outs[1]) < 1e-5
    weights = [torch.randn(o.shape, generator=torch.Generator().manual_seed(2)) for o in ref]
    grads, train_outs = [], []
    for model in (folded, plain):
        model.train()
        torch.manual_seed(3)  # the same drop-path masks
        out = model(x)
        sum((o * w).sum() for o, w in zip(out, weights)).backward()
        train_outs.append(out)
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert relative_error(*train_outs) < 1e-4
    assert ((grads[0] - grads[1]).norm() / grads[1].norm()).item() < 1e-4
    for a, b in zip(folded.buffers(), plain.buffers()):  # BN statistics of the training step
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # control: one block's FFN sigma changed in the folded model only changes its outputs
    with torch.no_grad():
        folded.blocks2[0].mlp.sigma.scale.add_(0.1)
        assert relative_error(folded.eval()(x), outs[1]) > 1e-3


def test_folded_scales_keeps_dropout_and_force_fp32_on_the_op_by_op_path():
    x = torch.randn(2, 3, 64, 64)
    for kwargs in (dict(drop_rate=0.3), dict(attn_force_fp32=True)):
        folded = randomise(MogaNet(SMALL_ARCH, **kwargs))
        plain = MogaNet(SMALL_ARCH, reference_ops=True, **kwargs)
        plain.load_state_dict(folded.state_dict())
        torch.manual_seed(0)
        a = folded.train()(x)
        torch.manual_seed(0)
        b = plain.train()(x)
        assert relative_error(a, b) < 1e-4, kwargs


def test_channels_last_switch_same_outputs_and_layout():
    model = randomise(MogaNet(SMALL_ARCH, channels_last=False)).eval()
    switched = MogaNet(SMALL_ARCH, channels_last=True).eval()
    switched.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    inner = []
    for m in (model, switched):  # the layout the blocks compute in
        m.stage_modules(1)[1][0].register_forward_hook(lambda m, a, out: inner.append(out))
    with torch.no_grad():
        outs, refs = switched(x), model(x)
    assert relative_error(outs, refs) < 1e-5
    assert inner[0].is_contiguous(memory_format=torch.channels_last)  # switched, run first
    assert not inner[1].is_contiguous(memory_format=torch.channels_last)  # control
    # handed back in the standard layout (mmcv's CPU RoIAlign misreads channels-last maps)
    assert all(o.is_contiguous() for o in outs + refs)
