"""ImageNet-1K configs (configs/imagenet_*.py): every variant of the four families builds the
official classifier (its parameter count, the official one, is checked from its metafile entry in
tests/test_model_zoo.py), follows its official recipe, and evaluates an official-layout checkpoint
(un-prefixed keys, official head) through mmengine's loader with the official logits."""
import glob
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

from mmmoga import metafiles
from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet
from numeric_fixtures import deterministic_input, deterministic_state_dict

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

CONFIGS = sorted(
    osp.basename(p)[len('imagenet_'):-3]
    for p in glob.glob(osp.join(ROOT, 'configs', 'imagenet_*.py')) if not p.endswith('_toy.py'))

ENTRIES = {e['Name']: e for e in metafiles.load_entries(ROOT)}


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', f'imagenet_{name}.py'))


def build(cfg_model, meta=False):
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        if meta:
            with torch.device('meta'):
                return MODELS.build(cfg_model)
        return MODELS.build(cfg_model)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_is_an_official_classifier(name):
    """Each builds mmpretrain's ``OfficialImageClassifier`` (its parameter count is the official
    one, in the metafile: tests/test_model_zoo.py checks it against the build and the paper)."""
    cfg = load(name)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.type == 'OfficialImageClassifier'
    assert ENTRIES[f'imagenet_{name}']['Config'] == f'configs/imagenet_{name}.py'


RECIPES = {  # name: (drop path, lr, weight decay, batch per GPU, base batch, EMA, epochs)
    'moganet_xt': (0.05, 1e-3, 0.03, 128, 1024, False, 300),
    'moganet_t': (0.1, 1e-3, 0.04, 128, 1024, False, 300),
    'moganet_s': (0.1, 1e-3, 0.05, 128, 1024, True, 300),
    'moganet_b': (0.2, 1e-3, 0.05, 128, 1024, True, 300),
    'moganet_l': (0.3, 1e-3, 0.05, 128, 1024, True, 300),
    'moganet_xl': (0.4, 1e-3, 0.05, 64, 512, True, 300),
    'hornet_t_7x7': (0.2, 4e-3, 0.05, 128, 4096, True, 300),
    'hornet_s_gf': (0.4, 4e-3, 0.05, 64, 4096, True, 300),
    'hornet_b_7x7': (0.5, 4e-3, 0.05, 64, 4096, True, 300),
    'hornet_l_gf_384': (0.4, 5e-5, 1e-8, 16, 512, True, 30),
    'conv2former_n': (0.1, 1e-3, 0.05, 128, 1024, False, 300),
    'conv2former_b': (0.7, 1e-3, 0.05, 128, 1024, False, 300),
    'inceptionnext_a': (0.1, 1e-3, 0.05, 320, 1280, False, 600),
    'inceptionnext_t': (0.1, 4e-3, 0.05, 128, 4096, False, 300),
    'inceptionnext_s': (0.3, 4e-3, 0.05, 128, 4096, False, 300),
    'inceptionnext_b': (0.4, 4e-3, 0.05, 128, 4096, False, 300),
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_official_recipe(name):
    cfg = load(name)
    dp, lr, wd, batch, base_batch, ema, epochs = RECIPES[name]
    assert cfg.model.backbone.drop_path_rate == dp
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == ('AdamW', lr, wd)
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.auto_scale_lr.base_batch_size == base_batch
    hooks = [h.type for h in cfg.get('custom_hooks', [])]
    assert ('EMAHook' in hooks) == ema
    if ema:
        assert cfg.custom_hooks[0].momentum == pytest.approx(1e-4)  # decay 0.9999
    assert cfg.train_cfg.max_epochs == epochs
    # the real batch: GPUs x batch per GPU x accumulation = the official one
    accumulate = cfg.optim_wrapper.get('accumulative_counts', 1)
    assert base_batch % (batch * accumulate) == 0


def test_recipe_details():
    cfg = load('hornet_t_7x7')
    assert cfg.optim_wrapper.clip_grad.max_norm == 100.
    assert load('hornet_t_gf').optim_wrapper.clip_grad.max_norm == 1.
    assert load('hornet_s_7x7').optim_wrapper.accumulative_counts == 2
    assert load('inceptionnext_t').optim_wrapper.accumulative_counts == 4
    # evaluation crop: MogaNet / Conv2Former crop_pct 0.9, HorNet / InceptionNeXt 0.875
    for name, edge in [('moganet_s', 248), ('conv2former_t', 248), ('hornet_t_gf', 256),
                       ('inceptionnext_t', 256), ('moganet_xt_256', 284)]:
        resize = load(name).test_dataloader.dataset.pipeline[1]
        assert (resize.type, resize.scale, resize.interpolation) == ('ResizeEdge', edge, 'bicubic')
    # Conv2Former normalises with timm's ViT defaults (mean = std = 0.5)
    assert load('conv2former_t').data_preprocessor.mean == [127.5] * 3
    assert load('moganet_s').data_preprocessor.mean == [123.675, 116.28, 103.53]
    # RandAugment magnitude: MogaNet XT/T 7, HorNet S-GF 12 / B-GF 15, default 9
    for name, magnitude in [('moganet_t', 7), ('moganet_s', 9), ('hornet_s_gf', 12),
                            ('hornet_b_gf', 15), ('hornet_b_7x7', 9)]:
        randaug = [
            t for t in load(name).train_dataloader.dataset.pipeline if t.type == 'RandAugment'
        ]
        assert randaug[0].magnitude_level == magnitude, name
    assert [a.alpha for a in load('moganet_t').model.train_cfg.augments] == [0.1, 1.0]
    assert [a.alpha for a in load('moganet_s').model.train_cfg.augments] == [0.8, 1.0]
    large = load('hornet_l_gf_384')
    assert large.model.backbone.gf_sizes == ((24, 13), (12, 7))
    assert large.optim_wrapper.paramwise_cfg.decay_rate == 0.7
    assert large.model.train_cfg is None  # no Mixup / CutMix when fine-tuning


# ------------------------------------------------- official layout -> logits of the official model


def official_layout(name, backbone):
    """An official release's state dict: the backbone's keys as they are plus the official
    classifier (RNG-free values), with its reference logits computed by the official formula
    on top of our backbone (whose outputs the backbone tests pin to the official code)."""
    state = deterministic_state_dict(backbone.state_dict())
    backbone.load_state_dict(state, strict=True)
    backbone.eval()
    if isinstance(backbone, MogaNet):  # head = Linear on GAP(norm4(stage 4))
        channels, head_key = backbone.embed_dims[-1], 'head'
        pre_logits = lambda x: backbone(x)[-1].mean((2, 3))  # noqa: E731
    elif isinstance(backbone, HorNet):  # head = Linear on norm(GAP(stage 4))
        channels, head_key = backbone.embed_dims[-1], 'head'
        pre_logits = lambda x: backbone(x)[-1]  # noqa: E731
    elif isinstance(backbone, Conv2Former):  # pred on GAP(head(stage 4))
        channels, head_key = 1280, 'pred'
        pre_logits = lambda x: backbone(x)[-1]  # noqa: E731
    else:  # InceptionNeXt: head.fc2 on norm(GELU(fc1(GAP)))
        channels, head_key = 3 * backbone.embed_dims[-1], 'head.fc2'
        pre_logits = lambda x: backbone(x)[-1]  # noqa: E731
    fake = deterministic_state_dict({
        f'{head_key}.weight': torch.zeros(1000, channels),
        f'{head_key}.bias': torch.zeros(1000)
    })
    state.update(fake)

    def reference(x):
        with torch.no_grad():
            return F.linear(pre_logits(x), fake[f'{head_key}.weight'], fake[f'{head_key}.bias'])

    return state, reference


FAMILY_CASES = {
    # config: (how the release wraps its state dict, backbone class and kwargs)
    'moganet_xt': ('state_dict', MogaNet, dict(arch='xtiny', out_indices=(3, ))),
    'hornet_t_gf':
    ('model', HorNet, dict(arch='tiny', mixer='gf', with_cls_head=True, out_indices=(3, ))),
    'conv2former_n':
    ('state_dict', Conv2Former, dict(arch='n', out_indices=(3, ), with_cls_head=True)),
    'inceptionnext_a':
    (None, InceptionNeXt, dict(arch='atto', out_indices=(3, ), with_cls_head=True)),
}


@pytest.mark.parametrize('name', sorted(FAMILY_CASES))
def test_official_checkpoint_gives_the_official_logits(name, tmp_path):
    wrapper, backbone_cls, kwargs = FAMILY_CASES[name]
    state, reference = official_layout(name, backbone_cls(**kwargs))
    checkpoint = {wrapper: state, 'epoch': 300} if wrapper else state
    if wrapper == 'state_dict':  # timm's saver: also the EMA weights (mmengine loads state_dict)
        checkpoint['state_dict_ema'] = {k: v + 1 for k, v in state.items()}
    path = tmp_path / 'official.pth'
    torch.save(checkpoint, path)

    cfg = load(name)
    model = build(cfg.model).eval()
    # what Runner.load_checkpoint (tools/test.py, load_from) does, with strict key matching
    _load_checkpoint_to_model(
        model,
        _load_checkpoint(str(path), map_location='cpu'),
        strict=True,
        revise_keys=[(r'^module\.', '')])
    x = deterministic_input(2, 64, 64)
    with torch.no_grad():
        logits = model(x, mode='tensor')
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits, reference(x), rtol=1e-5, atol=1e-5)

    # control: mmpretrain's own ImageClassifier cannot take the official layout
    plain = build(dict(cfg.model, type='ImageClassifier')).eval()
    with pytest.raises(RuntimeError, match='missing keys'):
        _load_checkpoint_to_model(
            plain, _load_checkpoint(str(path), map_location='cpu'), strict=True)


def test_own_checkpoints_still_load(tmp_path):
    """The classifier's own (mmpretrain-layout) checkpoints load unchanged."""
    cfg = load('inceptionnext_a')
    source = build(cfg.model).eval()
    path = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': source.state_dict(), 'meta': {}}, path)
    target = build(cfg.model).eval()
    _load_checkpoint_to_model(target, _load_checkpoint(str(path), map_location='cpu'), strict=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(target(x, mode='tensor'), source(x, mode='tensor'))


def test_unsupported_backbone_or_head_is_a_clear_error():
    with pytest.raises(TypeError, match='MogaNet'):
        build(
            dict(
                type='OfficialImageClassifier',
                backbone=dict(type='ResNet', depth=18),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    with pytest.raises(
            TypeError,
            match=r"classification form \(one official classifier layer, "
            r"not \['head.', 'pred.'\]\)"):
        build(
            dict(
                type='OfficialImageClassifier',
                backbone=dict(type='Conv2Former', arch='nano', out_indices=(3, )),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=10, in_channels=512)))
    with pytest.raises(TypeError, match='fc'):
        build(
            dict(
                type='OfficialImageClassifier',
                backbone=dict(type='MogaNet', arch='xt', out_indices=(3, )),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='ClsHead')))


def test_missing_imagenet_stops_at_once_naming_the_path(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/test.py'),
        osp.join(ROOT, 'configs/imagenet_moganet_s.py'), 'missing.pth'
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode != 0
    assert 'data/imagenet/val' in result.stderr
    assert 'https://image-net.org' in result.stderr
    assert 'Traceback' not in result.stderr


def test_official_state_dict_keys_match_the_release_layout():
    """The mapped keys are exactly the classifier's keys: nothing left over, nothing missing."""
    for name, (_, backbone_cls, kwargs) in FAMILY_CASES.items():
        model = build(load(name).model, meta=True)
        backbone_keys = {
            k[len('backbone.'):]
            for k in model.state_dict() if k.startswith('backbone.')
        }
        with torch.device('meta'):
            official = set(backbone_cls(**kwargs).state_dict())
        assert backbone_keys == official, name
        assert {k
                for k in model.state_dict()
                if not k.startswith('backbone.')} == {'head.fc.weight', 'head.fc.bias'}
