"""The 8 COCO top-down rows of the MogaNet paper (configs/topdown_heatmap_moganet_*.py): each builds
the official heatmap head and carries the official recipe. The parameter counts, against the
paper's, are checked from the metafiles in tests/test_model_zoo.py."""
import os.path as osp

import pytest
from mmengine.config import Config
from small_models import config_and_model

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the official recipe (MogaNet pose README): drop path per row
ROWS = {
    ('xt', '256x192'): 0.1,
    ('xt', '384x288'): 0.1,
    ('t', '256x192'): 0.15,
    ('t', '384x288'): 0.15,
    ('s', '256x192'): 0.2,
    ('s', '384x288'): 0.2,
    ('b', '256x192'): 0.3,
    ('b', '384x288'): 0.4,
}
ARCH = {'xt': ('xtiny', 192), 't': ('tiny', 256), 's': ('small', 512), 'b': ('base', 512)}
IDS = [f'{size}_{res}' for size, res in ROWS]


def path(size, res):
    return osp.join(ROOT, 'configs', f'topdown_heatmap_moganet_{size}_{res}.py')


def load(size, res):
    return Config.fromfile(path(size, res))


@pytest.mark.parametrize('size,res', list(ROWS), ids=IDS)
def test_the_official_heatmap_head(size, res):
    model = config_and_model(path(size, res))[1]
    # the heatmap head: 3 deconvs of 256, BN, 1x1 to 17
    in_channels = ARCH[size][1]
    head = 16 * 256 * in_channels + 2 * 16 * 256 * 256 + 3 * 2 * 256 + 256 * 17 + 17
    assert sum(p.numel() for p in model.head.parameters()) == head


@pytest.mark.parametrize('size,res', list(ROWS), ids=IDS)
def test_official_recipe(size, res):
    cfg = load(size, res)
    assert cfg.default_scope == 'mmpose' and 'mmmoga' in cfg.custom_imports.imports
    arch, channels = ARCH[size]
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.out_indices) == ('MogaNet', arch, (3, ))
    assert backbone.drop_path_rate == ROWS[size, res]
    assert backbone.init_cfg.checkpoint == (
        'https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/'
        f'moganet_{arch}_sz224_8xbs128_ep300.pth.tar')
    head = cfg.model.head
    assert (head.type, head.in_channels, head.out_channels) == ('HeatmapHead', channels, 17)
    width, height = (192, 256) if res == '256x192' else (288, 384)
    codec = head.decoder
    assert codec.type == 'MSRAHeatmap' and codec.sigma == 2  # sigma 2 at both sizes (official)
    assert codec.input_size == (width, height) and codec.heatmap_size == (width // 4, height // 4)
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == [
        'LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody', 'RandomBBoxTransform',
        'TopdownAffine', 'GenerateTarget', 'PackPoseInputs'
    ]
    assert pipeline[5].input_size == (width, height) and pipeline[6].encoder.sigma == 2
    assert cfg.val_dataloader.dataset.pipeline[2].input_size == (width, height)
    assert cfg.model.test_cfg.flip_test and cfg.model.test_cfg.shift_heatmap
    assert cfg.val_dataloader.dataset.bbox_file.endswith(
        'COCO_val2017_detections_AP_H_56_person.json')
    assert cfg.test_dataloader.dataset.bbox_file == cfg.val_dataloader.dataset.bbox_file
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr) == ('Adam', 1e-3)
    assert cfg.train_dataloader.batch_size == 32 and cfg.auto_scale_lr.base_batch_size == 256
    assert cfg.train_cfg.max_epochs == 210 and cfg.train_cfg.val_interval == 10
    assert cfg.param_scheduler[0].end == 500 and cfg.param_scheduler[1].milestones == [170, 200]
    amp = cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'
    assert amp == (size == 's' and res == '384x288')  # the only official fp16 row
