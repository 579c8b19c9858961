"""Inference fusion (``mmmoga.models.fuse_for_inference``): outputs unchanged within 1e-5 (fp32,
relative) on small variants of every family, with BN statistics and scales randomised so that every
fold matters, and the BNs / scales really gone."""
import copy

import pytest
import torch
from small_models import SMALL_SPECS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet, fuse_for_inference
from mmmoga.models.backbones.conv2former import FusedConv2FormerBlock
from mmmoga.models.backbones.moganet import FusedMogaBlock
from numeric_fixtures import randomise, relative_error

# the small archs of tests/small_models.py
MOGA, HOR, C2F, INCEP = (
    SMALL_SPECS[name][1]['arch']
    for name in ('moganet', 'hornet-7x7', 'conv2former', 'inceptionnext'))


def check(model, size=64, batch=2):
    model = randomise(model)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        refs = model(x)
    fused = copy.deepcopy(model)
    counts = fuse_for_inference(fused)
    with torch.no_grad():
        outs = fused(x)
    assert [o.shape for o in outs] == [r.shape for r in refs]
    assert relative_error(outs, refs) < 1e-5
    return fused, counts, x, refs


def bn_count(model):
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def test_moganet_fusion():
    fused, counts, x, refs = check(MogaNet(MOGA))
    blocks = sum(MOGA['depths'])
    # stem 2 + 3 downsamplers + 2 per block folded; the 4 stage norms stay (returned outputs)
    assert counts == dict(batchnorm=5 + 2 * blocks, scale=3 * blocks, block=blocks)
    assert bn_count(fused) == 4
    assert sum(isinstance(m, FusedMogaBlock) for m in fused.modules()) == blocks
    assert not any('layer_scale' in n or 'sigma' in n for n, _ in fused.named_parameters())
    # control: undoing one fold (the residual gain of one block) changes the output
    block = fused.blocks3[1]
    block.residual_gain.fill_(1.)
    with torch.no_grad():
        assert relative_error(fused(x), refs) > 1e-3


def test_moganet_fusion_keeps_the_force_fp32_function():
    fused, counts, x, refs = check(MogaNet(MOGA, attn_force_fp32=True))
    assert all(m.force_fp32 for m in fused.modules() if isinstance(m, FusedMogaBlock))


def test_moganet_fusion_with_a_zero_ffn_gain():
    model = randomise(MogaNet(MOGA))
    with torch.no_grad():
        model.blocks1[0].mlp.sigma.scale[0, 3] = -1.0  # 1 + sigma = 0 (nothing divides by it)
        x = torch.randn(1, 3, 64, 64)
        refs = model(x)
        fuse_for_inference(model)
        assert relative_error(model(x), refs) < 1e-5
        model.blocks1[0].decompose_mix.zero_()  # control: drop the rank-one decomposition term
        assert relative_error(model(x), refs) > 1e-3


@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_hornet_fusion(mixer):
    fused, counts, _, _ = check(HorNet(HOR, mixer=mixer))
    blocks = sum(HOR['depths'])
    assert counts == dict(batchnorm=0, scale=3 * blocks, block=0)  # gamma1, gamma2, 1/3
    for block in fused.stages.modules():
        if hasattr(block, 'gamma1'):
            assert block.gamma1 is None and block.gamma2 is None and block.gnconv.scale == 1


def test_conv2former_fusion():
    fused, counts, _, _ = check(Conv2Former(C2F))
    blocks = sum(C2F['depths'])
    # the stem's second BN folds into the unpadded 2x2 conv; the first one precedes a padded conv
    assert counts == dict(batchnorm=1, scale=2 * blocks, block=blocks)
    assert bn_count(fused) == 1
    assert sum(isinstance(m, FusedConv2FormerBlock) for m in fused.modules()) == blocks


@pytest.mark.parametrize('out_norm_cfg', [None, dict(type='BN')])
def test_inceptionnext_fusion(out_norm_cfg):
    fused, counts, _, _ = check(InceptionNeXt(INCEP, out_norm_cfg=out_norm_cfg))
    blocks = sum(INCEP['depths'])
    # stem conv -> BN, 3 downsamplers BN -> unpadded conv, one BN per block; out norms stay
    assert counts == dict(batchnorm=1 + 3 + blocks, scale=blocks, block=0)
    assert bn_count(fused) == (0 if out_norm_cfg is None else 4)


def test_conv_module_of_a_neck_or_head_is_folded():
    from mmcv.cnn import ConvModule
    head = nn.Sequential(
        ConvModule(8, 16, 3, padding=1, norm_cfg=dict(type='BN')),
        ConvModule(16, 4, 1, norm_cfg=dict(type='BN'), act_cfg=None))
    randomise(head, in_channels=8)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        ref = head(x)
        assert fuse_for_inference(head)['batchnorm'] == 2
        assert bn_count(head) == 0
        assert relative_error([head(x)], [ref]) < 1e-5


@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_horfpn_gnconv_module_with_bn_is_folded(mixer):
    from mmmoga.models.layers import GnConvModule
    neck = nn.Sequential(
        GnConvModule(
            8,
            16,
            order=3,
            mixer=mixer,
            gf_size=(9, 5),
            norm_cfg=dict(type='BN'),
            act_cfg=dict(type='ReLU')))
    randomise(neck, in_channels=8)
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        ref = neck(x)
        assert fuse_for_inference(neck)['batchnorm'] == 1
        assert bn_count(neck) == 0
        assert relative_error([neck(x)], [ref]) < 1e-5


def test_bad_input_names_the_problem():
    with pytest.raises(TypeError, match='needs an nn.Module'):
        fuse_for_inference('moganet')
    model = MogaNet(MOGA)
    with pytest.raises(TypeError, match='wrap it in an nn.Sequential'):
        fuse_for_inference(model.blocks1[0])


def test_whole_detector_fuses_and_tools_test_takes_fuse(tmp_path):
    """The toy Mask R-CNN: backbone + neck + RPN outputs unchanged by the fusion; then
    ``tools/test.py --fuse`` evaluates a checkpoint of it on toy COCO."""
    import os.path as osp
    import subprocess
    import sys

    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    from mmmoga.datasets import make_coco_instances
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    config = osp.join(root, 'configs', 'mask_rcnn_moganet_xt_toy.py')
    cfg = Config.fromfile(config)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    detector = MODELS.build(cfg.model)
    randomise(detector.backbone, scales=(0.02, 0.2))  # 18 blocks: keep the features O(1-10)
    detector.eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        feats = detector.extract_feat(x)
        refs = [*feats, *sum(detector.rpn_head(feats), [])]
    checkpoint = tmp_path / 'detector.pth'
    torch.save(dict(state_dict=detector.state_dict()), checkpoint)
    counts = fuse_for_inference(detector)
    assert counts['block'] == sum(detector.backbone.arch_settings['depths'])
    with torch.no_grad():
        feats = detector.extract_feat(x)
        outs = [*feats, *sum(detector.rpn_head(feats), [])]
    assert relative_error(outs, refs) < 1e-5

    data = tmp_path / 'coco'
    make_coco_instances(str(data), num_train=1, num_val=2)
    ann = str(data / 'annotations' / 'instances_val.json')
    proc = subprocess.run([
        sys.executable,
        osp.join(root, 'tools', 'test.py'), config,
        str(checkpoint), '--fuse', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', f'test_dataloader.dataset.data_root={data}',
        f'test_evaluator.ann_file={ann}'
    ],
                          capture_output=True,
                          text=True,
                          cwd=root,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'fuse_for_inference: folded' in proc.stdout + proc.stderr
    assert 'coco/bbox_mAP' in proc.stdout

    image = sorted((data / 'val').iterdir())[0]
    out = tmp_path / 'demo.png'
    proc = subprocess.run([
        sys.executable,
        osp.join(root, 'tools', 'image_demo.py'),
        str(image), config,
        str(checkpoint), '--fuse', '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          cwd=root,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'fuse_for_inference: folded' in proc.stdout + proc.stderr and out.is_file()
