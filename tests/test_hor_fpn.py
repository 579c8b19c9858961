"""HorFPN (mmdet neck) and HorUPerHead (mmseg head): official parameter counts and key names,
forward at odd sizes, a Mask R-CNN with HorFPN built from an mmdet config, and the paper Table 3
configs."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from small_models import ARCHS, config_and_model, one_block

import mmmoga  # noqa: F401  (registers everything)
from mmmoga import metafiles
from mmmoga.models import HorFPN, HorUPerHead, MogaNet
from mmmoga.models.layers import GnConvModule

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IN_CHANNELS = [96, 192, 384, 768]  # HorNet-S / Swin-S, the counts of architectures.md 3.2
DW = dict(mixer='dw', kernel_size=7, order=2, proj_out=True)
GF = dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)
SMALL = one_block(ARCHS['moganet']['small'])
SMALL_CHANNELS = SMALL['embed_dims']
# features of a 513x511 image at strides 4..32 (convs with padding round up)
SIZES = [(129, 128), (65, 64), (33, 32), (17, 16)]


def count(module):
    return sum(p.numel() for p in module.parameters())


def head_cfg(**kwargs):
    cfg = dict(
        in_channels=IN_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=512,
        num_classes=150,
        norm_cfg=dict(type='SyncBN', requires_grad=True))
    cfg.update(kwargs)
    return cfg


# ------------------------------------------------------------------------------------------------
# exact parameter counts and official key names [measured on the official modules]


def test_neck_parameter_counts():
    from mmdet.models.necks import FPN
    with torch.device('meta'):
        assert count(FPN(IN_CHANNELS, 256, 5)) == 2_729_984
        assert count(HorFPN(IN_CHANNELS, 256, 5)) == 1_368_064  # default: HorFPN 7x7
        assert count(HorFPN(IN_CHANNELS, 256, 5, gnconv_cfg=DW)) == 1_368_064
        assert count(HorFPN(IN_CHANNELS, 256, 5, gnconv_cfg=GF)) == 2_139_904
        # the official gn_conv_cfg spelling ports as it is (GF default h=32, w=17)
        official = dict(kernel_size=7, type='gngf', proj_out=True, order=2)
        assert count(HorFPN(IN_CHANNELS, 256, 5, gnconv_cfg=official)) == 2_139_904


def test_uper_head_bottleneck_parameter_counts():
    from mmseg.models.decode_heads import UPerHead
    with torch.device('meta'):
        assert count(UPerHead(**head_cfg()).fpn_bottleneck) == 9_438_208
        assert count(HorUPerHead(**head_cfg()).fpn_bottleneck) == 2_531_840  # default 7x7
        assert count(HorUPerHead(**head_cfg(gnconv_cfg=DW)).fpn_bottleneck) == 2_531_840
        assert count(HorUPerHead(**head_cfg(gnconv_cfg=GF)).fpn_bottleneck) == 2_917_760
        official = dict(type='gngf', proj_out=True, order=2, h=32)  # w = h // 2 + 1
        assert count(HorUPerHead(**head_cfg(gnconv_cfg=official)).fpn_bottleneck) == 2_917_760


def test_official_key_names_and_shapes():
    with torch.device('meta'):
        dw = HorFPN(IN_CHANNELS, 256, 5, gnconv_cfg=DW).state_dict()
        gf = HorFPN(IN_CHANNELS, 256, 5, gnconv_cfg=GF).state_dict()
        head = HorUPerHead(**head_cfg(gnconv_cfg=GF)).state_dict()

    def level(state, prefix):
        return {k[len(prefix):]: tuple(v.shape) for k, v in state.items() if k.startswith(prefix)}

    gnconv = {
        'proj_in.weight': (512, 256, 1, 1),
        'proj_in.bias': (512, ),
        'pws.0.weight': (256, 128, 1, 1),
        'pws.0.bias': (256, ),
        'proj_out.weight': (256, 256, 1, 1),
        'proj_out.bias': (256, )
    }
    for i in range(4):
        assert level(dw, f'fpn_convs.{i}.') == {
            **gnconv, 'dwconv.weight': (384, 1, 7, 7),
            'dwconv.bias': (384, )
        }
        assert level(gf, f'fpn_convs.{i}.') == {
            **gnconv, 'dwconv.complex_weight': (192, 32, 17, 2),
            'dwconv.dw.weight': (192, 1, 3, 3),
            'dwconv.pre_norm.weight': (384, ),
            'dwconv.pre_norm.bias': (384, ),
            'dwconv.post_norm.weight': (384, ),
            'dwconv.post_norm.bias': (384, )
        }
        assert dw[f'lateral_convs.{i}.conv.weight'].shape == (256, IN_CHANNELS[i], 1, 1)
    assert not any(k.startswith('fpn_convs.4') for k in dw)  # P6 is a max-pool
    bottleneck = level(head, 'fpn_bottleneck.')
    assert bottleneck['proj_in.weight'] == (1024, 2048, 1, 1)
    assert bottleneck['dwconv.complex_weight'] == (384, 32, 17, 2)
    assert bottleneck['pws.0.weight'] == (512, 256, 1, 1)
    assert bottleneck['proj_out.weight'] == (512, 512, 1, 1)
    assert {k
            for k in bottleneck if k.startswith('bn.')} == {
                'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
                'bn.num_batches_tracked'
            }
    # everything else in the head is UPerHead's
    assert 'bottleneck.conv.weight' in head and 'fpn_convs.2.conv.weight' in head


def test_gnconv_module_computes_the_official_formula():
    """Order-2 gating without the backbone's 1/3 scale, then the norm, then the activation."""
    torch.manual_seed(0)
    module = GnConvModule(
        12,
        8,
        order=2,
        mixer='dw',
        kernel_size=7,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU')).train()
    x = torch.randn(2, 12, 9, 7)
    a, b = torch.split(module.proj_in(x), (4, 12), dim=1)
    gates = torch.split(module.dwconv(b), (4, 8), dim=1)
    y = module.proj_out(module.pws[0](a * gates[0]) * gates[1])
    expected = F.relu(F.batch_norm(y, None, None, module.bn.weight, module.bn.bias, training=True))
    torch.testing.assert_close(module(x), expected)
    assert module.norm is module.bn and isinstance(module.activate, torch.nn.ReLU)
    with pytest.raises(ValueError, match='gnConv type'):
        HorFPN(SMALL_CHANNELS, 8, 5, gnconv_cfg=dict(type='gnconv3d'))


# ------------------------------------------------------------------------------------------------
# forward at odd sizes


@pytest.fixture(scope='module')
def feats():
    torch.manual_seed(0)
    backbone = MogaNet(SMALL).eval()
    with torch.no_grad():
        outs = backbone(torch.rand(1, 3, 513, 511))
    assert [tuple(o.shape[-2:]) for o in outs] == SIZES
    return outs


def check_all_parameters_learn(module, outs):
    module.zero_grad()
    sum(o.float().square().mean() for o in outs).backward()
    dead = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.any()]
    assert not dead


@pytest.mark.parametrize('gnconv_cfg', [DW, GF], ids=['7x7', 'gf'])
def test_horfpn_mask_rcnn_levels_at_odd_sizes(feats, gnconv_cfg):
    neck = HorFPN(SMALL_CHANNELS, 16, num_outs=5, gnconv_cfg=gnconv_cfg)
    neck.init_weights()
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [(1, 16, h, w) for h, w in SIZES + [(9, 8)]]
    assert all(torch.isfinite(o).all() for o in outs)
    check_all_parameters_learn(neck, outs)


@pytest.mark.parametrize('gnconv_cfg', [DW, GF], ids=['7x7', 'gf'])
@pytest.mark.parametrize('extra', ['on_input', 'on_output'])
def test_horfpn_retinanet_extra_convs(feats, gnconv_cfg, extra):
    """The official extra-level path could not build; here: 3x3 s2 conv, then a gnConv module."""
    neck = HorFPN(
        SMALL_CHANNELS,
        16,
        num_outs=5,
        start_level=1,
        add_extra_convs=extra,
        relu_before_extra_convs=True,
        gnconv_cfg=gnconv_cfg)
    state = neck.state_dict()
    first_extra_in = SMALL_CHANNELS[-1] if extra == 'on_input' else 16
    assert state['fpn_convs.3.0.conv.weight'].shape == (16, first_extra_in, 3, 3)
    assert state['fpn_convs.4.0.conv.weight'].shape == (16, 16, 3, 3)
    assert state['fpn_convs.3.1.proj_in.weight'].shape == (32, 16, 1, 1)
    assert state['fpn_convs.4.1.proj_out.weight'].shape == (16, 16, 1, 1)
    outs = neck(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == SIZES[1:] + [(9, 8), (5, 4)]
    check_all_parameters_learn(neck, outs)


@pytest.mark.parametrize('gnconv_cfg', [DW, GF], ids=['7x7', 'gf'])
def test_hor_uper_head_at_odd_sizes(feats, gnconv_cfg):
    head = HorUPerHead(
        in_channels=SMALL_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=16,
        num_classes=5,
        norm_cfg=dict(type='BN'),
        gnconv_cfg=gnconv_cfg)
    head.eval()  # the PPM's 1x1 pooled map cannot be batch-normalised in training with 1 image
    out = head(list(feats))
    assert out.shape == (1, 5, *SIZES[0])
    check_all_parameters_learn(head, [out])


# ------------------------------------------------------------------------------------------------
# a whole Mask R-CNN with HorFPN from an mmdet config, forward + loss + predict on a 513x511 image

MASK_RCNN = """
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='MogaNet', arch={arch}),
    neck=dict(type='HorFPN', in_channels={channels}, out_channels=32, gnconv_cfg={gnconv}),
    rpn_head=dict(in_channels=32, feat_channels=32),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=64, num_classes=3),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(num_convs=1, in_channels=32, conv_out_channels=32, num_classes=3)),
    train_cfg=dict(rpn=dict(sampler=dict(num=64)), rpn_proposal=dict(nms_pre=300, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=10)))
"""


@pytest.mark.parametrize('gnconv_cfg', [DW, GF], ids=['7x7', 'gf'])
def test_mask_rcnn_with_horfpn_from_mmdet_config(tmp_path, gnconv_cfg):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    path = tmp_path / 'mask_rcnn_horfpn.py'
    path.write_text(MASK_RCNN.format(arch=SMALL, channels=SMALL_CHANNELS, gnconv=gnconv_cfg))
    cfg = Config.fromfile(str(path))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        assert type(model.neck) is HorFPN
        packed = demo_mm_inputs(
            batch_size=1,
            image_shapes=[(3, 513, 511)],
            num_items=[3],
            num_classes=3,
            with_mask=True)
        packed['data_samples'][0].set_metainfo(dict(scale_factor=(1., 1.)))
        data = model.data_preprocessor(packed, True)
        assert data['inputs'].shape[-2:] == (544, 512)  # padded to a multiple of 32
        losses = model(**data, mode='loss')
        expected = {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'}
        assert expected <= set(losses)
        loss, _ = model.parse_losses(losses)
        assert torch.isfinite(loss)
        loss.backward()
        assert all(p.grad is not None for p in model.neck.parameters())
        model.eval()
        with torch.no_grad():
            result = model(**model.data_preprocessor(packed, False), mode='predict')[0]
    assert result.pred_instances.masks.shape[-2:] == (513, 511)


# ------------------------------------------------------------------------------------------------
# the paper Table 3 configs

BACKBONES = ('r50', 'r101', 'swin_s', 'hornet_s')
FUSIONS = ('fpn', 'horfpn_7x7', 'horfpn_gf')
CONFIGS = {
    f'{task}_{backbone}_{fusion}': (task, backbone, fusion)
    for task in ('mask_rcnn', 'upernet')
    for backbone in BACKBONES
    for fusion in FUSIONS
}


def test_every_table3_config_exists_with_the_papers_count():
    """Each cell of the paper's Table 3 has its config, and its metafile entry the paper's
    parameter count (tests/test_model_zoo.py checks the build against it)."""
    names = {osp.basename(p)[:-3] for p in glob.glob(osp.join(ROOT, 'configs', '*.py'))}
    assert set(CONFIGS) <= names, sorted(set(CONFIGS) - names)
    entries = {e['Name']: e['Metadata'] for e in metafiles.load_entries(ROOT)}
    assert all(entries[name]['Paper Parameters'] != '-' for name in CONFIGS)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_table3_config_builds_its_fusion(name):
    task, backbone, fusion = CONFIGS[name]
    cfg, model = config_and_model(osp.join(ROOT, 'configs', f'{name}.py'))
    assert cfg.default_scope == ('mmdet' if task == 'mask_rcnn' else 'mmseg')
    assert 'mmmoga' in cfg.custom_imports['imports']
    fused = model.neck if task == 'mask_rcnn' else model.decode_head
    expected_type = {
        'fpn': 'FPN' if task == 'mask_rcnn' else 'UPerHead',
        'horfpn_7x7': 'HorFPN' if task == 'mask_rcnn' else 'HorUPerHead'
    }
    expected_type['horfpn_gf'] = expected_type['horfpn_7x7']
    assert type(fused).__name__ == expected_type[fusion]
    if fusion != 'fpn':
        gnconv = fused.fpn_convs[0] if task == 'mask_rcnn' else fused.fpn_bottleneck
        assert isinstance(gnconv, GnConvModule)
        assert hasattr(gnconv.dwconv, 'complex_weight') == (fusion == 'horfpn_gf')


@pytest.mark.parametrize('name, stage4, neck', [
    ('mask_rcnn_hornet_s_horfpn_gf', 0.95**-5, 'neck.fpn_convs.0.dwconv.complex_weight'),
    ('upernet_hornet_s_horfpn_gf', 0.9**(12 - 3), 'decode_head.fpn_bottleneck.proj_in.weight'),
])
def test_hornet_recipes_build_their_layer_decay_optimizer(name, stage4, neck):
    """The official HorFPN recipes: det layer_wise 0.95 / 6 (stage 4 at 1.29x), seg stage_wise
    0.9 / 12; AdamW 1e-4, weight decay 0.05 except on 1-D params and biases."""
    from mmengine.optim import build_optim_wrapper
    cfg, model = config_and_model(osp.join(ROOT, 'configs', f'{name}.py'))
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    owner = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    groups = {n: owner[id(p)] for n, p in model.named_parameters()}
    assert groups['backbone.stages.3.1.pwconv1.weight']['lr_scale'] == pytest.approx(stage4)
    assert groups['backbone.stages.3.1.pwconv1.weight']['lr'] == pytest.approx(1e-4 * stage4)
    assert groups[neck]['lr_scale'] == 1. and groups[neck]['weight_decay'] == 0.05
    assert groups['backbone.stages.3.1.gamma1']['weight_decay'] == 0.
    assert groups['backbone.norm3.weight']['lr_scale'] == 1.
