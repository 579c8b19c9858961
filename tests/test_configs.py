import ast
import glob
import hashlib
import importlib
import os.path as osp

import pytest
from mmengine.config import Config
from small_models import config_and_model
from stack_under_test import as_upstream_urls

from mmmoga.engine import AtomicCheckpointHook, NonFiniteLossHook, PreemptionHook
from mmmoga.models.backbones import Conv2Former, HorNet, InceptionNeXt, MogaNet
from mmmoga.utils.config_digest import read_digests, resolved_config_digest, resolved_config_json

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))
DIGESTS = read_digests(ROOT)
VARIANTS = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', 'backbones', '*.py')))
FAMILIES = {
    'moganet': MogaNet,
    'hornet': HorNet,
    'conv2former': Conv2Former,
    'inceptionnext': InceptionNeXt
}


def test_configs_follow_the_naming_pattern():
    assert CONFIGS
    for path in CONFIGS:
        name = osp.basename(path)
        assert name == name.lower() and ' ' not in name and '-' not in name, name


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_config_loads_and_builds(path):
    cfg, model = config_and_model(path)
    assert cfg.get('default_scope') in ('mmdet', 'mmseg', 'mmpose', 'mmpretrain')
    assert 'mmmoga' in cfg.custom_imports['imports']
    # the same under the onedl forks, whose bases download the same files from their own host
    digest = hashlib.sha256(as_upstream_urls(resolved_config_json(cfg)).encode()).hexdigest()
    assert digest == DIGESTS.get(osp.basename(path)), (
        f'the resolved settings of {osp.basename(path)} changed; if that is intended, record '
        'them with `python tools/misc/config_digests.py --update`')
    assert sum(p.numel() for p in model.parameters()) > 0
    # crash-safe checkpoints, the non-finite loss stop and the save on preemption, resolved as
    # the Runner resolves them
    hooks = importlib.import_module(f'{cfg.default_scope}.registry').HOOKS
    assert isinstance(hooks.build(cfg.default_hooks.checkpoint.to_dict()), AtomicCheckpointHook)
    assert isinstance(hooks.build(cfg.default_hooks.finite_loss.to_dict()), NonFiniteLossHook)
    assert isinstance(hooks.build(cfg.default_hooks.preemption.to_dict()), PreemptionHook)


def test_digests_cover_every_config_and_see_any_change():
    assert sorted(DIGESTS) == [osp.basename(p) for p in CONFIGS]
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mask_rcnn_moganet_s.py'))
    digest = resolved_config_digest(cfg)
    assert digest == DIGESTS['mask_rcnn_moganet_s.py']
    cfg.model.backbone.drop_path_rate = 0.2  # control: one setting changed
    assert resolved_config_digest(cfg) != digest
    cfg.model.backbone.drop_path_rate = 0.1
    cfg.model.backbone.out_indices = list(cfg.model.backbone.out_indices)  # a tuple is not a list
    assert resolved_config_digest(cfg) != digest
    cfg.model.backbone.out_indices = tuple(cfg.model.backbone.out_indices)
    cfg.variant = dict(arch='small')  # the helper variable of the variant files is left out
    assert resolved_config_digest(cfg) == digest


@pytest.mark.parametrize('path', VARIANTS, ids=[osp.basename(p) for p in VARIANTS])
def test_backbone_variant_file_matches_the_arch_zoo(path):
    """configs/_base_/backbones/{family}_{size}[_{mixer}].py: the channels the necks and heads
    read are the stage widths of the arch the backbone builds."""
    variant = Config.fromfile(path).variant
    family, size, *mixer = osp.basename(path)[:-3].split('_')
    backbone = FAMILIES[family]
    assert variant.channels == list(backbone.arch_zoo[variant.arch]['embed_dims'])
    assert backbone.arch_zoo[size] is backbone.arch_zoo[variant.arch]  # the file name's alias
    if family == 'hornet':
        assert variant.mixer == {'7x7': 'dw', 'gf': 'gf'}[mixer[0]]
    for key, url in variant.items():
        if key.endswith('checkpoint'):
            assert url.startswith(('https://', 'pretrained/')), (key, url)


def test_configs_take_arch_channels_and_weights_from_the_variant_files():
    """No config outside configs/_base_/backbones/ spells a variant's arch, channels or weights."""
    facts = set()
    for path in VARIANTS:
        variant = Config.fromfile(path).variant
        facts |= {repr(v) for k, v in variant.items() if k != 'arch'}
    used = set()
    for path in CONFIGS + glob.glob(osp.join(ROOT, 'configs', '_base_', '*.py')):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        used.update(
            osp.basename(b) for b in glob.glob(osp.join(ROOT, 'configs/_base_/backbones/*'))
            if f"backbones/{osp.basename(b)}'" in text)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.keyword) and node.arg in ('in_channels', 'checkpoint'):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                if node.arg == 'in_channels' and 'swin' in osp.basename(path):
                    continue  # Swin-S has HorNet-S's widths
                assert repr(value) not in facts or isinstance(value, int), (path, value)
    assert used == {osp.basename(p) for p in VARIANTS}  # every variant file serves a config


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
