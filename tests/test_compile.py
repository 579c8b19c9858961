"""torch.compile (inductor, default mode) on small variants of every family, alone and as the
backbone + neck of the toy Mask R-CNN, with the eager outputs; and a few training iterations of a
toy config with mmengine's ``compile=True``.

Compiling on 2 CPU cores takes tens of seconds per model: these tests carry the ``compile`` marker
(deselect with ``-m "not compile"``).
"""
import math
import os.path as osp

import pytest
import torch
import torch._dynamo
from mmengine.config import Config
from small_models import ARCHS, SMALL_SPECS, one_block, tiny_spec
from torch import nn

from numeric_fixtures import relative_error

pytestmark = pytest.mark.compile
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# one block per stage: compile time grows with the graph
TINY = {
    name: (lambda backbone=backbone, kwargs=kwargs: backbone(**dict(
        kwargs, arch=one_block(kwargs['arch']))))
    for name, (backbone, kwargs) in SMALL_SPECS.items()
}


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize('family', list(TINY))
def test_backbone_compiles_in_one_graph_with_equal_outputs(family):
    torch.manual_seed(0)
    model = TINY[family]().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        refs = model(x)
        explained = torch._dynamo.explain(model)(x)
        assert explained.graph_break_count == 0, explained.break_reasons
        outs = torch.compile(model, fullgraph=True)(x)
    assert relative_error(outs, refs) < 1e-5


class BackboneNeck(nn.Module):

    def __init__(self, detector):
        super().__init__()
        self.backbone, self.neck = detector.backbone, detector.neck

    def forward(self, x):
        return self.neck(self.backbone(x))


def test_backbone_and_neck_of_the_toy_mask_rcnn_compile():
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mask_rcnn_moganet_xt_toy.py'))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    module = BackboneNeck(MODELS.build(cfg.model)).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        refs = module(x)
        outs = torch.compile(module)(x)
    assert len(outs) == len(refs) == 5  # FPN levels P2-P6
    assert relative_error(outs, refs) < 1e-5


def test_toy_config_trains_with_mmengine_compile(tmp_path):
    from mmengine.runner import Runner

    from mmmoga.datasets.toy import make_shape_classification
    data = tmp_path / 'cls'
    make_shape_classification(str(data), num_train=8, num_val=3)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'imagenet_moganet_xt_toy.py'))
    cfg.merge_from_dict({
        'train_dataloader.dataset.data_root': str(data),
        'train_dataloader.batch_size': 4,
        'val_dataloader.dataset.data_root': str(data),
        'test_dataloader.dataset.data_root': str(data),
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 10,
        'default_hooks.checkpoint.interval': 10,
    })
    # a smaller MogaNet than XT (compiling forward and backward on 2 cores takes minutes)
    cfg.model.backbone.arch = one_block(ARCHS['moganet']['small'])
    cfg.model.head.in_channels = 64
    # mmengine's compile=True compiles the whole train_step, optimizer step included; with a
    # paramwise_cfg, mmengine 0.10.7 builds the param groups as ConfigDicts, which torch 2.13's
    # dynamo cannot read there ("'UserDefinedDictVariable' object has no attribute 'items'"):
    # train with plain param groups (no per-parameter decay multipliers)
    cfg.optim_wrapper.pop('paramwise_cfg')
    cfg.compile = True
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert hasattr(runner.model.train_step, '_torchdynamo_orig_callable')  # the compiled step
    assert runner.iter == 4
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 4 and all(map(math.isfinite, losses))
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before
               if before[k].is_floating_point())


def test_benchmark_measures_compiled_speed_and_compile_time(monkeypatch):
    from mmmoga.devtools import benchmark
    from mmmoga.devtools.benchmark.models import Entry
    monkeypatch.setitem(
        benchmark.BENCHMARK_MODELS, 'tiny_moganet',
        Entry(
            'tiny_moganet', lambda with_cp, channels_last=None: TINY['moganet'](), 'mmmoga',
            'test'))
    spec = tiny_spec(model='tiny_moganet', iters=2, warmup=1, threads=None)
    compiled = benchmark.measure(dict(spec, compile=True))
    plain = benchmark.measure(spec)
    assert compiled['compile_s'] > 0 and compiled['images_per_s'] > 0
    assert 'compile_s' not in plain
    header, body = benchmark.table_rows([
        dict(
            model='tiny_moganet',
            dtype='fp32',
            memory_format='channels_first',
            with_cp=False,
            params=1,
            flops={},
            infer=plain,
            train=None,
            infer_compiled=compiled)
    ], 64, 64)
    cells = dict(zip(header, body[0]))
    assert float(cells['compiled infer img/s']) > 0 and cells['compile s'].endswith('/-')
