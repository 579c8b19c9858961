"""A fifth backbone family, written here in a few lines, gets through the same path as the four:
the contract checks, inference fusion, the benchmark and the official classifier, without any
other file knowing about it (docs/adding_a_family.md lists what a real family needs)."""
import pytest
import torch
from backbone_contract import check_contract
from mmengine.registry import MODELS as ROOT_MODELS
from small_models import tiny_spec
from torch import nn

from mmmoga.devtools import benchmark
from mmmoga.devtools.benchmark import models as benchmark_models
from mmmoga.models import fuse_for_inference
from mmmoga.models.backbones.base_backbone import BaseBackbone
from mmmoga.models.layers.folding import bn_affine, foldable_bn, scale_output
from mmmoga.registry import MODELS, register_model


class TinyBlock(nn.Module):
    """``x + drop_path(gamma * pw(GELU(BN(dw(x)))))``."""

    def __init__(self, channels: int, drop_path_rate: float = 0., layer_scale_init_value=0.5):
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = nn.BatchNorm2d(channels)
        self.pwconv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(channels))
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        y = self.pwconv(nn.functional.gelu(self.norm(self.dwconv(x))))
        if self.gamma is not None:
            y = y * self.gamma[:, None, None]
        if self.training and self.drop_path_rate:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.drop_path_rate
            y = y * keep / (1 - self.drop_path_rate)
        return x + y

    def fuse(self, counts):
        if foldable_bn(self.norm):
            scale_output(self.dwconv, *bn_affine(self.norm))
            self.norm = nn.Identity()
            counts['batchnorm'] += 1
        if self.gamma is not None:
            scale_output(self.pwconv, self.gamma.detach())
            self.gamma = None
            counts['scale'] += 1
        return self


class TinyNet(BaseBackbone):
    """Four stages of a 2x2 stride-2 conv + BN, then :class:`TinyBlock` s."""
    arch_zoo = dict.fromkeys(['t', 'tiny'], dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1]))
    arch_keys = frozenset({'embed_dims', 'depths'})
    classification_form = dict(out_indices=(3, ), with_cls_head=True)
    cls_head_name = None  # the classification form only pools

    def __init__(self,
                 arch='tiny',
                 *,
                 out_indices=(0, 1, 2, 3),
                 frozen_stages=-1,
                 norm_eval=False,
                 with_cp=False,
                 drop_path_rate=0.,
                 layer_scale_init_value=0.5,
                 with_cls_head=False,
                 channels_last=None,
                 reference_ops=None,
                 init_cfg=None):
        super().__init__(
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            init_cfg=init_cfg,
            channels_last=channels_last,
            reference_ops=reference_ops)
        arch = self.parse_arch(arch)
        self.set_cls_head(with_cls_head)
        dims, self.with_cp = arch['embed_dims'], with_cp
        self.downsamples = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(([3] + dims)[i], dims[i], 2, stride=2), nn.BatchNorm2d(dims[i]))
            for i in range(4))
        self.stages = nn.ModuleList(
            nn.Sequential(*[TinyBlock(dims[i], rate, layer_scale_init_value) for rate in rates])
            for i, rates in enumerate(self.drop_path_rates(drop_path_rate, arch['depths'])))

    def stage_modules(self, index):
        return [self.downsamples[index], self.stages[index], *self.output_modules(index)]

    def pooled_output(self, x):
        return x.mean((2, 3))

    def forward_stage(self, index, x):
        return self.run_blocks(self.stages[index], self.downsamples[index](x))


@pytest.fixture(scope='module', autouse=True)
def registered():
    register_model()(TinyNet)
    yield
    for registry in (MODELS, ROOT_MODELS):
        registry._module_dict.pop('TinyNet')


def test_the_contract_holds():
    check_contract(TinyNet, dict(arch='tiny'))


def test_inference_fusion_folds_its_blocks():
    torch.manual_seed(0)
    model = TinyNet().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # statistics away from the identity
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        counts = fuse_for_inference(model)
        after = model(x)
    # 4 downsampling conv -> BN pairs (nn.Sequential) and, in the 5 blocks, 5 BNs and 5 scales
    assert counts == dict(batchnorm=9, scale=5, block=0)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_benchmark_lists_and_measures_it(monkeypatch):
    table = benchmark_models.benchmark_models()
    assert {'tinynet_t', 'tinynet_t_cls'} <= set(table)
    assert table['tinynet_t'].label == 'TinyNet-T' and not table['tinynet_t'].cpu_kernels
    monkeypatch.setattr(benchmark_models, 'BENCHMARK_MODELS', table)
    for mode in ('infer', 'train'):
        result = benchmark.measure(tiny_spec(model='tinynet_t', mode=mode))
        assert result['images_per_s'] > 0


def test_the_official_classifier_loads_its_release_layout():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = PRETRAIN_MODELS.build(
            dict(
                type='OfficialImageClassifier',
                backbone=dict(type='TinyNet', **TinyNet.classification_form),
                head=dict(type='LinearClsHead', num_classes=5, in_channels=32)))
    release = {
        k: torch.rand_like(v) if v.is_floating_point() else v
        for k, v in TinyNet(**TinyNet.classification_form).state_dict().items()
    }
    release.update({'head.weight': torch.rand(5, 32), 'head.bias': torch.rand(5)})
    classifier.load_state_dict(release)  # strict: every key maps
    torch.testing.assert_close(classifier.head.fc.weight, release['head.weight'])
    torch.testing.assert_close(classifier.backbone.stages[2][1].pwconv.weight,
                               release['stages.2.1.pwconv.weight'])
