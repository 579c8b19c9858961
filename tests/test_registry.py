"""``custom_imports=['mmmoga']`` makes our modules buildable from every task library's configs."""
import importlib
import textwrap

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from small_models import ARCHS, one_block

import mmmoga
from mmmoga.models import MogaNet

SMALL = repr(one_block(ARCHS['moganet']['small']))

# one real-looking config per task library, each inheriting that library's own bases
CONFIGS = {
    'mmdet':
    f"""
        _base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', 'mmdet::_base_/default_runtime.py']
        custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
        model = dict(backbone=dict(_delete_=True, type='{{backbone}}', arch={SMALL}),
                     neck=dict(in_channels=[16, 32, 48, 64]))
        """,
    'mmseg':
    f"""
        _base_ = ['mmseg::_base_/models/upernet_r50.py', 'mmseg::_base_/default_runtime.py']
        custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
        model = dict(pretrained=None,  # mmseg pushes a model-level `pretrained` into the backbone
                     backbone=dict(_delete_=True, type='{{backbone}}', arch={SMALL}),
                     decode_head=dict(in_channels=[16, 32, 48, 64], channels=32),
                     auxiliary_head=dict(in_channels=48, channels=16))
        """,
    'mmpose':
    f"""
        _base_ = ['mmpose::_base_/default_runtime.py']
        custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
        model = dict(
            type='TopdownPoseEstimator',
            data_preprocessor=dict(type='PoseDataPreprocessor'),
            backbone=dict(type='{{backbone}}', arch={SMALL}, out_indices=(3, )),
            head=dict(type='HeatmapHead', in_channels=64, out_channels=17,
                      loss=dict(type='KeypointMSELoss', use_target_weight=True),
                      decoder=dict(type='MSRAHeatmap', input_size=(192, 256),
                                   heatmap_size=(48, 64), sigma=2)))
        """,
    'mmpretrain':
    f"""
        _base_ = ['mmpretrain::_base_/models/resnet50.py',
                  'mmpretrain::_base_/default_runtime.py']
        custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
        model = dict(backbone=dict(_delete_=True, type='{{backbone}}', arch={SMALL},
                                   out_indices=(3, )),
                     head=dict(in_channels=64))
        """,
}


def build_from_config(tmp_path, scope, backbone):
    path = tmp_path / f'{scope}_config.py'
    path.write_text(textwrap.dedent(CONFIGS[scope].replace('{backbone}', backbone)))
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == scope
    init_default_scope(cfg.default_scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    return registry.build(cfg.model)


@pytest.mark.parametrize('scope', list(CONFIGS))
@pytest.mark.parametrize('name', ['MogaNet', 'mmmoga.MogaNet'])
def test_backbone_builds_from_each_task_library(tmp_path, scope, name):
    model = build_from_config(tmp_path, scope, name)
    assert type(model.backbone) is MogaNet


@pytest.mark.parametrize('scope', list(CONFIGS))
def test_every_family_is_reachable_by_bare_and_scoped_name(scope):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        registry = importlib.import_module(f'{scope}.registry').MODELS
        for name, cls in mmmoga.registry.MODELS.module_dict.items():
            assert registry.get(f'mmmoga.{name}') is cls
            bare = registry.get(name)
            if scope == 'mmpretrain' and name == 'HorNet':
                continue  # see test_name_clash_hornet
            assert bare is cls, (scope, name)
        assert MODELS.get('mmmoga.MogaNet') is MogaNet


def test_name_clash_hornet():
    """mmpretrain owns a ``HorNet``: in its scope the bare name stays theirs, ``mmmoga.HorNet`` is
    ours; elsewhere the bare name is ours and ``mmpretrain.HorNet`` still reaches theirs."""
    from mmpretrain.models.backbones import HorNet as MMPretrainHorNet

    from mmmoga.models.backbones.hornet import HorNet
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.registry import MODELS
        assert MODELS.get('HorNet') is MMPretrainHorNet
        assert MODELS.get('mmmoga.HorNet') is HorNet
        assert type(MODELS.build(dict(type='HorNet', arch='tiny'))) is MMPretrainHorNet
    for scope in ('mmdet', 'mmseg', 'mmpose'):
        with DefaultScope.overwrite_default_scope(scope):
            registry = importlib.import_module(f'{scope}.registry').MODELS
            assert registry.get('HorNet') is HorNet
            assert registry.get('mmmoga.HorNet') is HorNet
            assert registry.get('mmpretrain.HorNet') is MMPretrainHorNet


def test_name_clash_layer_decay_constructor():
    """mmdet and mmseg own ``LearningRateDecayOptimizerConstructor`` (ConvNeXt only); ours has a
    name of its own, reachable from every scope, and theirs keep resolving to theirs."""
    from mmdet.engine.optimizers import LearningRateDecayOptimizerConstructor as MMDetConstructor
    from mmseg.engine.optimizers import LearningRateDecayOptimizerConstructor as MMSegConstructor

    from mmmoga.engine.optimizers import BackboneLayerDecayOptimWrapperConstructor as Ours
    for scope in ('mmdet', 'mmseg', 'mmpose', 'mmpretrain'):
        with DefaultScope.overwrite_default_scope(scope):
            registry = importlib.import_module(f'{scope}.registry').OPTIM_WRAPPER_CONSTRUCTORS
            assert registry.get(Ours.__name__) is Ours
            assert registry.get(f'mmmoga.{Ours.__name__}') is Ours
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS
        assert OPTIM_WRAPPER_CONSTRUCTORS.get(
            'LearningRateDecayOptimizerConstructor') is MMDetConstructor
    with DefaultScope.overwrite_default_scope('mmseg'):
        from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS
        assert OPTIM_WRAPPER_CONSTRUCTORS.get(
            'LearningRateDecayOptimizerConstructor') is MMSegConstructor


def test_hooks_and_wrappers_are_registered():
    from mmengine.registry import HOOKS, MODEL_WRAPPERS

    from mmmoga.engine import CPUDistributedDataParallel, RandomStateHook
    assert HOOKS.get('RandomStateHook') is RandomStateHook
    assert HOOKS.get('mmmoga.RandomStateHook') is RandomStateHook
    assert MODEL_WRAPPERS.get('CPUDistributedDataParallel') is CPUDistributedDataParallel
