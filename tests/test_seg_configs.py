"""ADE20K configs: every paper row has one (its parameter count is checked from the metafiles in
tests/test_model_zoo.py), the official recipes, the test resize and
the multi-scale + flip pipeline of every segmentation config."""
import glob
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from small_models import config_and_model

from mmmoga import metafiles

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name + '.py'))


def test_every_ade20k_row_has_a_config_with_a_paper_figure():
    """Every ADE20K config but the HorFPN study's (tests/test_hor_fpn.py), the toy one and the
    Mask2Former reconstruction is a paper row: its metafile entry has the paper's parameter count
    (tests/test_model_zoo.py checks the build against it)."""
    names = {
        osp.basename(p)[:-3]
        for pattern in ('upernet_*', 'semfpn_*', 'mask2former_*')
        for p in glob.glob(osp.join(ROOT, 'configs', pattern + '.py'))
    }
    study = {
        n
        for n in names
        if 'horfpn' in n or n.endswith('_fpn') or '_r50_' in n or '_r101_' in n or '_swin_' in n
    }
    extra = {'semfpn_moganet_xt_toy', 'mask2former_hornet_l_gf_640'}
    entries = {e['Name']: e['Metadata'] for e in metafiles.load_entries(ROOT)}
    rows = {n for n in names - study - extra if entries[n]['Paper Parameters'] != '-'}
    assert rows == names - study - extra and len(rows) == 29
    assert all(entries[n]['Paper Parameters'] == '-' for n in extra)


# ---------------------------------------------------------------------------------------------
# recipes


def test_moganet_upernet_recipe():
    cfg = config('upernet_moganet_s')
    assert (cfg.model.backbone.type, cfg.model.backbone.arch) == ('MogaNet', 'small')
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.backbone.init_cfg.checkpoint.endswith(
        'moganet_small_sz224_8xbs128_ep300.pth.tar')
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-4, 0.01)
    assert set(cfg.optim_wrapper.paramwise_cfg.custom_keys) == {'layer_scale', 'scale', 'norm'}
    warmup, poly = cfg.param_scheduler
    assert (warmup.end, poly.power, poly.end) == (1500, 1.0, 160000)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.test_dataloader.dataset.pipeline[1].type == 'AlignResize'
    assert cfg.model.test_cfg.mode == 'whole'


def test_moganet_semfpn_recipe():
    cfg = config('semfpn_moganet_b')
    opt = cfg.optim_wrapper.optimizer
    assert (opt.lr, opt.weight_decay, 'paramwise_cfg' in cfg.optim_wrapper) == (2e-4, 1e-4, False)
    assert [s.type for s in cfg.param_scheduler] == ['PolyLR']
    assert (cfg.param_scheduler[0].power, cfg.train_cfg.max_iters) == (0.9, 80000)
    assert cfg.train_dataloader.batch_size == 4 and cfg.model.backbone.drop_path_rate == 0.2
    assert cfg.model.neck.in_channels == [64, 160, 320, 512]


@pytest.mark.parametrize('name,dp,rate,layers,clip',
                         [('upernet_hornet_t', 0.4, 0.9, 6, None),
                          ('upernet_hornet_t_gf', 0.4, 0.9, 6, 1),
                          ('upernet_hornet_s', 0.3, 0.9, 12, None),
                          ('upernet_hornet_s_gf', 0.3, 0.9, 12, 1),
                          ('upernet_hornet_b', 0.4, 0.9, 12, None),
                          ('upernet_hornet_b_gf', 0.5, 0.9, 12, 1),
                          ('upernet_hornet_l_640', 0.4, 0.8, 12, None),
                          ('upernet_hornet_l_gf_640', 0.4, 0.8, 12, 0.1)])
def test_hornet_upernet_recipes(name, dp, rate, layers, clip):
    """The official semantic_segmentation/configs/hornet table (architectures.md 2.7)."""
    cfg = config(name)
    backbone, optim = cfg.model.backbone, cfg.optim_wrapper
    assert backbone.drop_path_rate == dp
    assert backbone.mixer == ('gf' if '_gf' in name else 'dw')
    if '_gf' in name:
        assert tuple(map(tuple, backbone.gf_sizes)) == ((24, 13), (12, 7))
    assert (optim.paramwise_cfg.decay_rate, optim.paramwise_cfg.num_layers) == (rate, layers)
    assert optim.paramwise_cfg.decay_type == 'stage_wise'
    assert (optim.get('clip_grad') or {}).get('max_norm') == clip
    assert backbone.init_cfg.checkpoint.startswith('https://cloud.tsinghua.edu.cn/f/')
    crop = 640 if name.endswith('_640') else 512
    assert cfg.model.test_cfg == dict(
        mode='slide', crop_size=(crop, crop), stride=(426, 426) if crop == 640 else (341, 341))
    assert cfg.model.data_preprocessor.size == (crop, crop)
    assert cfg.train_dataloader.dataset.pipeline[3].crop_size == (crop, crop)


def test_inceptionnext_uses_syncbn_and_output_norms():
    for name in ('upernet_inceptionnext_t', 'semfpn_inceptionnext_t'):
        backbone = config(name).model.backbone
        assert backbone.norm_cfg.type == 'SyncBN' and backbone.out_norm_cfg.type == 'SyncBN'
    model = config_and_model(osp.join(ROOT, 'configs', 'semfpn_inceptionnext_t.py'))[1]
    assert all(hasattr(model.backbone, f'norm{i}') for i in range(4))


@pytest.mark.parametrize('name,dp', [('upernet_conv2former_t', 0.2), ('upernet_conv2former_s', 0.3),
                                     ('upernet_conv2former_b', 0.5),
                                     ('upernet_conv2former_l_640', 0.4)])
def test_conv2former_drop_path_and_local_weights(name, dp):
    backbone = config(name).model.backbone
    assert backbone.drop_path_rate == dp  # paper Table 13
    assert backbone.init_cfg.checkpoint.startswith('pretrained/conv2former_')


# ---------------------------------------------------------------------------------------------
# MogaNet's AlignResize against the official rule

# (height, width) -> the official AlignResize output at img_scale (2048, 512), worked by hand:
# mmcv's imrescale factor min(2048 / long, 512 / short), sides int(x * f + 0.5), then each side
# rounded up to a multiple of 32
ALIGN_CASES = [
    ((375, 500), (512, 704)),  # f = 1.3653: 512 x 682.67 -> 683 -> 704
    ((512, 683), (512, 704)),  # f = 1: 683 -> 704
    ((256, 256), (512, 512)),  # f = 2: already aligned
    ((480, 1920), (512, 2048)),  # f = 1.0667 (short side): 2048 exactly
    ((300, 2000), (320, 2048)),  # f = 1.024 (long side): short 307.2 -> 307 -> 320
    ((1000, 333), (1568, 512)),  # portrait, f = 1.5375 (short side): 1538 -> 1568
]


def _run(transform, height, width):
    results = dict(
        img=np.zeros((height, width, 3), np.uint8), gt_seg_map=np.zeros((height, width), np.uint8))
    return transform.transform(results)


@pytest.mark.parametrize('size,expected', ALIGN_CASES)
def test_align_resize_matches_the_official_rule(size, expected):
    from mmmoga.datasets import AlignResize, align_resize_shape
    out = _run(AlignResize(scale=(2048, 512)), *size)
    assert out['img'].shape[:2] == expected == out['img_shape'] == align_resize_shape(
        *size, (2048, 512))
    assert out['gt_seg_map'].shape == expected
    assert out['scale_factor'] == pytest.approx((expected[1] / size[1], expected[0] / size[0]))


def test_align_resize_is_not_resize_plus_padding():
    """Control: mmseg 1.x's Resize(keep_ratio=True) gives the un-aligned size (the preprocessor
    would pad it), so the two pipelines differ for any size that is not a multiple of 32."""
    from mmcv.transforms import Resize

    from mmmoga.datasets import AlignResize
    plain = _run(Resize(scale=(2048, 512), keep_ratio=True), 375, 500)
    aligned = _run(AlignResize(scale=(2048, 512)), 375, 500)
    assert plain['img'].shape[:2] == (512, 683)
    assert aligned['img'].shape[:2] == (512, 704)


def test_align_resize_builds_from_the_moganet_config():
    from mmengine.registry import TRANSFORMS, init_default_scope
    init_default_scope('mmseg')
    cfg = config('upernet_moganet_t')
    step = TRANSFORMS.build(cfg.test_dataloader.dataset.pipeline[1])
    assert type(step).__name__ == 'AlignResize' and step.scale == (2048, 512)
    assert _run(step, 375, 500)['img'].shape[:2] == (512, 704)


# ---------------------------------------------------------------------------------------------
# multi-scale + flip test (tools/test.py --tta) of every ADE20K config

SEG_CONFIGS = sorted(
    osp.basename(p)[:-3] for pattern in ('upernet_*', 'semfpn_*', 'mask2former_*')
    for p in glob.glob(osp.join(ROOT, 'configs', pattern + '.py')))


@pytest.mark.parametrize('name', SEG_CONFIGS)
def test_tta_pipeline_gives_six_scales_with_flips(name, tmp_path):
    """Every segmentation config carries a tta_model and a tta_pipeline that produces the
    papers' 6 scales x 2 flips (the toy config: 3 x 2) from one image, each view with its label
    map. Ours follow the config's test scale (mmseg 0.x's MultiScaleFlipAug rule, the papers'
    protocol); the HorFPN study's ResNet/Swin configs keep mmseg 1.x's own tta_pipeline, whose
    scales are the image size times the ratio."""
    import mmcv
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    cfg = config(name)
    assert cfg.tta_model.type == 'SegTTAModel'
    image, label = tmp_path / 'a.jpg', tmp_path / 'a.png'
    mmcv.imwrite(np.full((300, 400, 3), 128, np.uint8), str(image))
    mmcv.imwrite(np.ones((300, 400), np.uint8), str(label))
    out = Compose(cfg.tta_pipeline)(
        dict(img_path=str(image), seg_map_path=str(label), reduce_zero_label=True, seg_fields=[]))
    samples = out['data_samples']
    toy = name.endswith('_toy')
    assert len(samples) == (6 if not toy else 3) * 2
    flips = [s.metainfo['flip'] for s in samples]
    assert flips.count(True) == flips.count(False)
    short = sorted({min(s.metainfo['img_shape']) for s in samples})
    base = 128 if toy else (640 if '_640' in name else 512)
    ratios = (0.75, 1.0, 1.25) if toy else (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    if name.startswith(('upernet_r50_', 'upernet_r101_', 'upernet_swin_')):
        base = 300  # mmseg 1.x's rule: Resize(scale_factor=r) of the 400x300 image
    # a 400x300 image fits the (4 x base, base) box by its short side (short side = base * r,
    # rounded up to a multiple of 32 where the config aligns: MogaNet), the toy's square
    # (128 r, 128 r) box by its long side (short side = 300 / 400 * 128 r)
    expected = [int(base * r) for r in ratios]
    if toy:
        expected = [int(300 * int(128 * r) / 400 + 0.5) for r in ratios]
    elif 'moganet' in name:
        expected = [-(-e // 32) * 32 for e in expected]
    assert short == pytest.approx(expected, abs=1)
    assert all(s.gt_sem_seg.data.shape[-2:] == (300, 400) for s in samples)


@pytest.mark.parametrize('name', [
    'upernet_moganet_s', 'upernet_hornet_l_gf_640', 'semfpn_inceptionnext_t',
    'mask2former_hornet_l_gf_640'
])
def test_missing_ade20k_stops_with_where_to_get_it(name, tmp_path, monkeypatch):
    from mmmoga.utils import check_dataset_paths
    monkeypatch.chdir(tmp_path)  # no data/ade here
    with pytest.raises(FileNotFoundError) as err:
        check_dataset_paths(config(name), ['train_dataloader', 'val_dataloader'], name)
    text = str(err.value)
    assert 'data/ade/ADEChallengeData2016/images/training' in text
    assert 'ADEChallengeData2016.zip' in text
    assert 'train_dataloader.dataset.data_root=' in text
