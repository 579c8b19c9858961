"""Mixed-precision training stays finite: a few autocast training steps per family.

torch 2.13's CPU autocast runs both bfloat16 and float16 (checked here: the convolutions really
produce the reduced dtype), so both are tested on CPU; fp16 steps use ``torch.amp.GradScaler``
as fp16 training does. Each step asserts a finite loss close to the fp32 loss of the same weights,
and finite gradients that reach every trained parameter.
"""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmmoga  # noqa: F401  (registers everything)
from mmmoga.models import Conv2Former, HorFPN, HorNet, InceptionNeXt, MogaNet

MOGA = dict(embed_dims=[16, 32, 48, 64], depths=[1, 2, 2, 1], ffn_ratios=[4, 4, 4, 4])
HOR = dict(embed_dims=[16, 32, 64, 128], depths=[1, 1, 2, 1], orders=[2, 3, 4, 5])
C2F = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], mlp_ratios=[4, 4, 4, 4], kernel_size=7)
INCEP = dict(
    embed_dims=[16, 32, 64, 128],
    depths=[1, 1, 2, 1],
    mlp_ratios=[4, 4, 4, 3],
    band_kernel_size=11,
    branch_ratio=0.125)
BACKBONES = {
    'moganet': lambda: MogaNet(MOGA, drop_path_rate=0.1),
    'moganet_attn_force_fp32': lambda: MogaNet(MOGA, drop_path_rate=0.1, attn_force_fp32=True),
    'hornet_7x7': lambda: HorNet(HOR, mixer='dw', drop_path_rate=0.1),
    'hornet_gf': lambda: HorNet(HOR, mixer='gf', drop_path_rate=0.1),
    'conv2former': lambda: Conv2Former(C2F, drop_path_rate=0.1),
    'inceptionnext': lambda: InceptionNeXt(INCEP, drop_path_rate=0.1),
}
DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
STEPS = 3


class Classifier(nn.Module):
    """Backbone, global average pool of every stage output, linear head."""

    def __init__(self, backbone, neck=None):
        super().__init__()
        self.backbone, self.neck = backbone, neck
        channels = neck.out_channels if neck else sum(backbone.embed_dims)
        self.head = nn.Linear(channels * (neck.num_outs if neck else 1), 5)

    def forward(self, x):
        features = self.backbone(x)
        if self.neck is not None:
            features = self.neck(features)
        pooled = torch.cat([f.float().mean((2, 3)) for f in features], 1)
        return self.head(pooled)


def reduced_precision_convs(model, dtype, images):
    """How many Conv2d outputs come out in ``dtype`` under autocast (the check that autocast
    really runs in reduced precision, so the test means something)."""
    dtypes = []
    handles = [
        m.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype)) for m in model.modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad(), torch.autocast('cpu', dtype=dtype):
        model(images)
    for handle in handles:
        handle.remove()
    return sum(d == dtype for d in dtypes)


def train_steps(model, dtype):
    torch.manual_seed(0)
    images, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    assert reduced_precision_convs(model, dtype, images) > 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler('cpu', enabled=dtype == torch.float16)
    trained = [p for p in model.parameters() if p.requires_grad]
    for step in range(STEPS):
        with torch.no_grad():
            model.eval()  # drop path off: the same function in both precisions
            reference = F.cross_entropy(model(images), labels)
            with torch.autocast('cpu', dtype=dtype):
                low = F.cross_entropy(model(images), labels)
            model.train()
        assert torch.isfinite(low), f'step {step}: loss {low}'
        torch.testing.assert_close(low.float(), reference, rtol=0.05, atol=0.05)

        optimizer.zero_grad()
        with torch.autocast('cpu', dtype=dtype):
            loss = F.cross_entropy(model(images), labels)
        assert torch.isfinite(loss), f'step {step}: training loss {loss}'
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        for name, p in model.named_parameters():
            if p.requires_grad:
                assert p.grad is not None, f'step {step}: no gradient for {name}'
                assert torch.isfinite(p.grad).all(), f'step {step}: non-finite gradient {name}'
        assert sum(bool(p.grad.abs().sum() > 0) for p in trained) > 0.9 * len(trained)
        scaler.step(optimizer)
        scaler.update()
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), f'non-finite weight {name} after {STEPS} steps'


HORNET_FP16 = pytest.mark.xfail(
    strict=True,
    reason='measured: under fp16 autocast ~40% of HorNet\'s parameters get '
    'exactly-zero gradients (loss and gradients stay finite); cause not analysed yet (layer '
    'scale 1e-6 underflow suspected)')


@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize('family', list(BACKBONES))
def test_autocast_training_steps_stay_finite(family, dtype, request):
    if family.startswith('hornet') and dtype == 'fp16':
        request.applymarker(HORNET_FP16)
    torch.manual_seed(0)
    train_steps(Classifier(BACKBONES[family]()), DTYPES[dtype])


@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_horfpn_autocast_training_steps_stay_finite(mixer, dtype):
    torch.manual_seed(0)
    gnconv = dict(
        mixer=mixer,
        order=2,
        proj_out=True,
        **(dict(gf_size=(16, 9)) if mixer == 'gf' else dict(kernel_size=7)))
    neck = HorFPN(MOGA['embed_dims'], 32, 5, gnconv_cfg=gnconv)
    train_steps(Classifier(MogaNet(MOGA), neck), DTYPES[dtype])


@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
def test_attn_force_fp32_runs_the_gating_in_fp32(dtype):
    """attn_force_fp32: proj_2 of every block runs in fp32 under autocast; without it (the
    control) it runs in the autocast dtype. The control runs the official op sequence
    (``reference_ops``), where ``proj_2`` is called as a module the hook sees (the default folds
    the layer scale into its weight and calls the convolution directly)."""
    images = torch.randn(2, 3, 64, 64)
    for force, expected in ((True, torch.float32), (False, DTYPES[dtype])):
        model = MogaNet(MOGA, attn_force_fp32=force, reference_ops=not force).eval()
        seen = []
        for module in model.modules():
            if hasattr(module, 'proj_2'):
                module.proj_2.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        with torch.no_grad(), torch.autocast('cpu', dtype=DTYPES[dtype]):
            model(images)
        assert seen and set(seen) == {expected}, (force, seen)
