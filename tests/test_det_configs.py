"""COCO detection configs of every family: the official recipes of each paper row.

The parameter counts and FLOPs of every row, against the paper where it prints them, are checked
from the metafiles in ``tests/test_model_zoo.py``.
"""
import copy
import functools
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from small_models import config_and_model

from mmmoga import metafiles

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

DETECTORS = ('retinanet_', 'mask_rcnn_', 'cascade_mask_rcnn_', 'htc_', 'dino_')
# the configs of the papers' COCO rows: the HorFPN study's are in tests/test_hor_fpn.py, the toy
# configs in tests/test_toy_detection.py
FULL_SIZE = sorted(
    osp.basename(p)[:-3] for p in glob.glob(osp.join(ROOT, 'configs', '*.py'))
    if osp.basename(p).startswith(DETECTORS) and not p.endswith(('_toy.py',
                                                                 '_fpn.py')) and 'horfpn' not in p)


def config_path(stem):
    return osp.join(ROOT, 'configs', f'{stem}.py')


@functools.lru_cache(maxsize=None)
def load(stem):
    return Config.fromfile(config_path(stem))


@functools.lru_cache(maxsize=None)
def metafile_entries():
    return {entry['Name']: entry for entry in metafiles.load_entries(ROOT)}


@pytest.mark.parametrize('stem', FULL_SIZE)
def test_metafile_entry_is_the_coco_row(stem):
    entry = metafile_entries()[stem]
    assert entry['Config'] == f'configs/{stem}.py'
    assert entry['Metadata']['Input Size'] == '1280x800'


@pytest.mark.parametrize('stem', FULL_SIZE)
def test_common_recipe(stem):
    cfg = load(stem)
    assert 'mmmoga' in cfg.custom_imports['imports']
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    if not stem.startswith('dino'):  # DINO keeps its own recipe (torch's default betas)
        assert optimizer.betas == (0.9, 0.999)
    if stem.endswith('_3x'):
        assert cfg.train_cfg.max_epochs == 36
        steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
        assert steps[0].milestones == [27, 33]
    if '_3x' in stem and not stem.startswith(('htc', 'dino')):
        # the DETR / Sparse R-CNN multi-scale AutoAugment pipeline: two policies
        choice = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomChoice']
        assert len(choice) == 1 and len(choice[0].transforms) == 2
        assert choice[0].transforms[1][1].crop_size == (384, 600)


GIOU_4CONV1F = [
    s for s in FULL_SIZE if s.startswith('cascade') and s != 'cascade_mask_rcnn_moganet_s_3x'
]


@pytest.mark.parametrize('stem', GIOU_4CONV1F + ['htc_hornet_l_gf_3x'])
def test_giou_4conv1f_heads_with_syncbn(stem):
    heads = load(stem).model.roi_head.bbox_head
    assert len(heads) == 3
    for head in heads:
        assert (head.type, head.num_shared_convs, head.num_shared_fcs) == ('ConvFCBBoxHead', 4, 1)
        assert head.norm_cfg.type == 'SyncBN'
        assert (head.loss_bbox.type, head.loss_bbox.loss_weight) == ('GIoULoss', 10.0)
        assert head.reg_decoded_bbox and not head.reg_class_agnostic


def test_plain_cascade_keeps_mmdet_heads():
    heads = load('cascade_mask_rcnn_moganet_s_3x').model.roi_head.bbox_head
    assert [h.type for h in heads] == ['Shared2FCBBoxHead'] * 3
    assert all(h.reg_class_agnostic and h.loss_bbox.type == 'SmoothL1Loss' for h in heads)


def warmup_iters(cfg):
    return [s for s in cfg.param_scheduler if s.type == 'LinearLR'][0].end


# official HorNet Cascade 3x recipes: (mixer, gf_sizes, drop path, lr, layer decay)
HORNET = {
    't_7x7': ('dw', None, 0.4, 2e-4, 0.7),
    't_gf': ('gf', ((14, 8), (7, 4)), 0.4, 2e-4, 0.7),
    's_7x7': ('dw', None, 0.6, 2e-4, 0.7),
    's_gf': ('gf', ((14, 8), (7, 4)), 0.6, 2e-4, 0.7),
    'b_7x7': ('dw', None, 0.7, 2e-4, 0.8),
    'b_gf': ('gf', ((14, 8), (7, 4)), 0.7, 2e-4, 0.8),
    'l_7x7': ('dw', None, 0.7, 1e-4, 0.7),
    'l_gf': ('gf', ((24, 13), (12, 7)), 0.7, 1e-4, 0.7),
}


@pytest.mark.parametrize('variant', HORNET)
def test_hornet_cascade_recipe(variant):
    cfg = load(f'cascade_mask_rcnn_hornet_{variant}_3x')
    mixer, gf_sizes, drop_path, lr, decay = HORNET[variant]
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.mixer, backbone.drop_path_rate) == ('HorNet', mixer, drop_path)
    assert backbone.get('gf_sizes') == gf_sizes
    assert backbone.init_cfg.checkpoint.startswith('https://cloud.tsinghua.edu.cn/f/')
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32, as the official `fp16 = None`
    assert cfg.optim_wrapper.constructor == 'BackboneLayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.optimizer.lr == lr and cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        decay_rate=decay, decay_type='layer_wise', num_layers=12)
    assert warmup_iters(cfg) == 500


# official MogaNet Cascade GIoU recipes: (drop path, lr, layer decay or None, warm-up)
MOGANET_GIOU = {
    's': (0.1, 2e-4, None),
    'b': (0.2, 1e-4, 0.8),
    'l': (0.3, 1e-4, 0.8),
    'xl': (0.4, 1e-4, 0.8)
}


@pytest.mark.parametrize('size', MOGANET_GIOU)
def test_moganet_giou_cascade_recipe(size):
    cfg = load(f'cascade_mask_rcnn_moganet_{size}_giou_4conv1f_3x')
    drop_path, lr, decay = MOGANET_GIOU[size]
    assert cfg.model.backbone.drop_path_rate == drop_path
    assert cfg.optim_wrapper.type == 'OptimWrapper' and cfg.optim_wrapper.optimizer.lr == lr
    if decay is None:
        assert 'constructor' not in cfg.optim_wrapper
        assert set(cfg.optim_wrapper.paramwise_cfg.custom_keys) == {'layer_scale', 'scale', 'norm'}
    else:
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            decay_rate=decay, decay_type='layer_wise', num_layers=12)
    assert warmup_iters(cfg) == 1000


@pytest.mark.parametrize('stem', [s for s in FULL_SIZE if 'moganet' in s])
def test_moganet_weights_are_the_sz224_releases(stem):
    url = load(stem).model.backbone.init_cfg.checkpoint
    assert url.startswith('https://github.com/Westlake-AI/MogaNet/releases/download/'
                          'moganet-in1k-weights/moganet_') and '_sz224_' in url


def test_layer_decay_reaches_the_hornet_param_groups():
    """The optimizer the HorNet-T config builds: stage 4 at 0.7 x lr, the stem at 0.7^13 x lr."""
    from mmengine.optim import build_optim_wrapper
    cfg, model = config_and_model(config_path('cascade_mask_rcnn_hornet_t_gf_3x'))
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    lrs = {g['layer_id']: g['lr'] for g in groups}
    assert lrs[13] == pytest.approx(2e-4)
    assert lrs[12] == pytest.approx(2e-4 * 0.7)
    assert lrs[0] == pytest.approx(2e-4 * 0.7**13)
    stage4 = {id(p) for p in model.backbone.stages[3].parameters()}
    assert all(g['layer_id'] == 12 for g in groups for p in g['params'] if id(p) in stage4)


@pytest.mark.parametrize('size', ['t', 's', 'b', 'l'])
def test_mask_rcnn_3x_builds_the_1x_model(size):
    """The MS 3x rows differ from the 1x rows only in data, schedule and drop path (the metafile
    takes their FLOPs from the 1x measurement)."""

    def structure(stem):
        model = load(stem).model.to_dict()
        model['backbone'].pop('drop_path_rate')
        model['backbone'].pop('init_cfg')
        return model

    assert structure(f'mask_rcnn_moganet_{size}_3x') == structure(f'mask_rcnn_moganet_{size}')
    assert load(f'mask_rcnn_moganet_{size}_3x').train_cfg.max_epochs == 36


@pytest.mark.parametrize('stem', FULL_SIZE)
def test_backbone_weights_resolve_to_a_named_release(stem):
    """Every config's init_cfg is an official release with a proper cache file name, or (Baidu-only
    Conv2Former) a local file the loader explains how to fetch."""
    from mmmoga.metafiles import find_release
    from mmmoga.utils.checkpoint import cache_file_name
    checkpoint = load(stem).model.backbone.init_cfg.checkpoint
    if 'conv2former' in stem:
        assert 'Extraction Code' in find_release(file=osp.basename(checkpoint))
        assert checkpoint == f'pretrained/{osp.basename(checkpoint)}'
        return
    name = cache_file_name(checkpoint)
    family = next(f for f in ('moganet', 'hornet', 'inceptionnext') if f in stem)
    assert name.startswith(family) and name.endswith(('.pth', '.pth.tar')), name
    if 'hornet' in stem:  # the det/seg "Pretrained Model" links, of the matching variant
        size = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}[stem.split('_hornet_')[1][0]]
        mixer = 'gf' if '_gf_' in stem else '7x7'
        assert name.startswith(f'hornet_{size}_{mixer}_') and name.endswith('_downstream.pth')


def test_flops_counter_gives_cascade_mask_heads_100_rois():
    """The counter runs each cascade stage's mask head on the first 100 proposals (mmdet 2.x's
    ``forward_dummy``, the papers' convention), not on all of them as mmdet 3.x's tensor forward."""
    from mmmoga.devtools.complexity import build_model, tensor_forward
    model = build_model(copy.deepcopy(load('cascade_mask_rcnn_moganet_xt_toy')))
    box_rois, mask_rois = [], []
    model.roi_head.bbox_head[0].register_forward_hook(
        lambda module, args, out: box_rois.append(len(args[0])))
    for head in model.roi_head.mask_head:
        head.register_forward_hook(lambda module, args, out: mask_rois.append(len(args[0])))
    forward = tensor_forward(model, 'mmdet', 160, 160)
    tensor_forward(model, 'mmdet', 160, 160)  # preparing twice changes nothing
    with torch.no_grad():
        forward(torch.zeros(1, 3, 160, 160))
    assert box_rois[0] > 100  # the control: every proposal reaches the box heads
    assert mask_rois == [100, 100, 100]
