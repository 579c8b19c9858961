import glob
import importlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmmoga.engine import AtomicCheckpointHook, NonFiniteLossHook

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))

# paper: MogaNet Mask R-CNN 1x (targets.md), params in millions
MASK_RCNN_MOGANET = {'xt': 22.8, 't': 25.0, 's': 45.0, 'b': 63.4, 'l': 102.1}


def build_on_meta(cfg):
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    try:
        with torch.device('meta'):  # structure only: fast, no memory
            return registry.build(cfg.model)
    except (RuntimeError, NotImplementedError):  # e.g. Swin calls .item() while building
        return registry.build(cfg.model)


def test_configs_follow_the_naming_pattern():
    assert CONFIGS
    for path in CONFIGS:
        name = osp.basename(path)
        assert name == name.lower() and ' ' not in name and '-' not in name, name


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.get('default_scope') in ('mmdet', 'mmseg', 'mmpose', 'mmpretrain')
    assert 'mmmoga' in cfg.custom_imports['imports']
    model = build_on_meta(cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
    # crash-safe checkpoints and the non-finite loss stop, resolved as the Runner resolves them
    hooks = importlib.import_module(f'{cfg.default_scope}.registry').HOOKS
    assert isinstance(hooks.build(cfg.default_hooks.checkpoint.to_dict()), AtomicCheckpointHook)
    assert isinstance(hooks.build(cfg.default_hooks.finite_loss.to_dict()), NonFiniteLossHook)


@pytest.mark.parametrize('size', MASK_RCNN_MOGANET)
def test_mask_rcnn_moganet_params_match_the_paper(size):
    cfg = Config.fromfile(osp.join(ROOT, f'configs/mask_rcnn_moganet_{size}.py'))
    params = sum(p.numel() for p in build_on_meta(cfg).parameters()) / 1e6
    assert params == pytest.approx(MASK_RCNN_MOGANET[size], rel=0.01)


def test_headline_recipe():
    """configs/mask_rcnn_moganet_s.py is the paper's Mask R-CNN 1x MogaNet-S row."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mask_rcnn_moganet_s.py'))
    backbone = cfg.model.backbone
    assert (backbone.type, backbone.arch, backbone.drop_path_rate) == ('MogaNet', 'small', 0.1)
    assert backbone.init_cfg.checkpoint == (
        'https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/'
        'moganet_small_sz224_8xbs128_ep300.pth.tar')
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', 2e-4, 0.05)
    assert {
        k: v.decay_mult
        for k, v in cfg.optim_wrapper.paramwise_cfg.custom_keys.items()
    } == {
        'layer_scale': 0.,
        'scale': 0.,
        'norm': 0.
    }
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.model.neck.in_channels == [64, 128, 320, 512]
