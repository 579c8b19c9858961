"""Mixed-precision training trains every parameter: a few autocast training steps per family.

torch 2.13's CPU autocast runs both bfloat16 and float16 (checked here: the convolutions really
produce the reduced dtype), so both are tested on CPU, and on CUDA where a GPU is present; fp16
steps use ``torch.amp.GradScaler`` at ``AmpOptimWrapper``'s initial scale (2**16). Each step
asserts a finite loss close to the fp32 loss of the same weights, and a finite, non-zero gradient
for every trained parameter from the first step on (the branches behind the 1e-5/1e-6 layer scales
used to get exactly-zero gradients under fp16: :func:`mmmoga.models.layers.layer_scaled`).
"""
import pytest
import torch
import torch.nn.functional as F
from small_models import SMALL_SPECS
from torch import nn

import mmmoga  # noqa: F401  (registers everything)
from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet
from mmmoga.models.layers import gnconv as gnconv_module
from mmmoga.models.layers import norm as norm_module
from mmmoga.models.layers import scale as scale_module

# the small archs of tests/small_models.py
MOGA, HOR, C2F, INCEP = (
    SMALL_SPECS[name][1]['arch']
    for name in ('moganet', 'hornet-7x7', 'conv2former', 'inceptionnext'))
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
INITIAL_LOSS_SCALE = 2.0**16  # mmengine AmpOptimWrapper's default (dynamic) initial scale
DEVICES = [
    'cpu',
    pytest.param(
        'cuda', marks=pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU'))
]


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
    with torch.no_grad(), torch.autocast(images.device.type, dtype=dtype):
        model(images)
    for handle in handles:
        handle.remove()
    return sum(d == dtype for d in dtypes)


def untrained_parameters(model, finite=True):
    """Names of the trainable parameters whose gradient is missing, all zero, or (``finite``)
    not finite."""
    return [
        name for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0 or
                                (finite and not torch.isfinite(p.grad).all()))
    ]


def train_steps(model, dtype, device='cpu'):
    torch.manual_seed(0)
    model.to(device)
    images = torch.randn(4, 3, 64, 64).to(device)
    labels = torch.tensor([0, 1, 2, 3], device=device)
    assert reduced_precision_convs(model, dtype, images) > 0
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(
        device, init_scale=INITIAL_LOSS_SCALE, enabled=dtype == torch.float16)
    for step in range(STEPS):
        with torch.no_grad():
            model.eval()  # drop path off: the same function in both precisions
            reference = F.cross_entropy(model(images), labels)
            with torch.autocast(device, dtype=dtype):
                low = F.cross_entropy(model(images), labels)
            model.train()
        assert torch.isfinite(low), f'step {step}: loss {low}'
        torch.testing.assert_close(low.float(), reference, rtol=0.05, atol=0.05)

        optimizer.zero_grad()
        with torch.autocast(device, dtype=dtype):
            loss = F.cross_entropy(model(images), labels)
        assert torch.isfinite(loss), f'step {step}: training loss {loss}'
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        untrained = untrained_parameters(model)
        assert not untrained, f'step {step}: no finite non-zero gradient for {untrained}'
        scaler.step(optimizer)
        scaler.update()
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), f'non-finite weight {name} after {STEPS} steps'


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize('family', list(BACKBONES))
def test_autocast_training_steps_train_every_parameter(family, dtype, device):
    torch.manual_seed(0)
    train_steps(Classifier(BACKBONES[family]()), DTYPES[dtype], device)


def fp16_step_at_224(family, unscaled=False):
    """One fp16 forward/backward of a fresh classifier at 224 (batch 2, per-pixel gradients some
    20x smaller than at 64x64) with the loss scaled by 2**16; returns the model."""
    torch.manual_seed(0)
    images, labels = torch.randn(2, 3, 224, 224), torch.tensor([0, 1])
    model = Classifier(BACKBONES[family]())
    with torch.autocast('cpu', dtype=torch.float16, enabled=not unscaled):
        loss = F.cross_entropy(model(images), labels)
    (loss * (1 if unscaled else INITIAL_LOSS_SCALE)).backward()
    return model


def switch_off_the_gnconv_fp32(monkeypatch):
    for module in (gnconv_module, norm_module):
        monkeypatch.setattr(module, 'in_fp16_autocast', lambda x: False)


@pytest.mark.parametrize(
    'family, switch_off',
    [('moganet', lambda mp: mp.setattr(scale_module, 'fp16_rescue_active', lambda x: False)),
     ('hornet_7x7', switch_off_the_gnconv_fp32)],
    ids=['moganet-rescue', 'hornet-gnconv-fp32'])
def test_first_fp16_step_at_224_trains_every_parameter(family, switch_off, monkeypatch):
    """At a real input size the first fp16 step at loss scale 2**16 gives every parameter a
    non-zero gradient (not always a finite one at this scale: HorNet's stem biases sum 6,272
    pixels' gradients and overflow, which the dynamic loss scale answers by halving itself;
    underflow it never answers). The controls: without the rescue, MogaNet's ``decompose``
    (behind ``sigma`` and the layer scale, 1e-10 together) gets exactly-zero gradients (measured:
    12 parameters); without gnConv's fp32 under fp16, HorNet's gnConv and the norms in front of
    it do (its gated products underflow in the forward pass already)."""
    assert untrained_parameters(fp16_step_at_224(family), finite=False) == []
    switch_off(monkeypatch)
    untrained = untrained_parameters(fp16_step_at_224(family), finite=False)
    assert untrained, 'every parameter trained without it: the control shows nothing'
    expected = 'mlp.decompose' if family == 'moganet' else 'stages.'
    assert all(expected in name for name in untrained), untrained


@pytest.mark.parametrize('family', ['conv2former', 'inceptionnext'])
def test_rescue_brings_fp16_gradients_closer_to_fp32(family, monkeypatch):
    """Conv2Former and InceptionNeXt get non-zero gradients also without the rescue, but the
    branches' gradients reach fp16 as subnormals with a few bits of precision: with the rescue the
    median relative error of the parameter gradients against fp32 is measured 2x (Conv2Former)
    and 8x (InceptionNeXt) smaller at 224; asserted: at least 1.5x."""
    reference = {n: p.grad for n, p in fp16_step_at_224(family, unscaled=True).named_parameters()}

    def median_error():
        grads = dict(fp16_step_at_224(family).named_parameters())
        errors = [((grads[n].grad / INITIAL_LOSS_SCALE - g).norm() / g.norm()).item()
                  for n, g in reference.items() if g.norm() > 0]
        return sorted(errors)[len(errors) // 2]

    rescued = median_error()
    monkeypatch.setattr(scale_module, 'fp16_rescue_active', lambda x: False)
    plain = median_error()
    assert rescued * 1.5 < plain, (rescued, plain)


@pytest.mark.parametrize('dtype', list(DTYPES), ids=list(DTYPES))
@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_horfpn_autocast_training_steps_train_every_parameter(mixer, dtype):
    pytest.importorskip('mmdet')  # HorFPN is registered only where mmdet is installed
    from mmmoga.models import HorFPN
    torch.manual_seed(0)
    gnconv = dict(
        mixer=mixer,
        order=2,
        proj_out=True,
        **(dict(gf_size=(16, 9)) if mixer == 'gf' else dict(kernel_size=7)))
    neck = HorFPN(MOGA['embed_dims'], 32, 5, gnconv_cfg=gnconv)
    train_steps(Classifier(MogaNet(MOGA), neck), DTYPES[dtype])


@pytest.mark.parametrize('family', [f for f in BACKBONES if 'force_fp32' not in f])
def test_the_rescue_changes_no_value_and_no_gradient(family, monkeypatch):
    """The rescue is exact: forced on in float64 (where nothing underflows), every family gives the
    outputs and parameter gradients it gives without it. A parameter that a branch uses but
    :func:`layer_scaled` was not told about would come out ``K`` (2**13 to 2**17) times too
    large. MogaNet runs its op-by-op path, the one fp16 autocast takes."""
    torch.manual_seed(0)
    if family == 'moganet':
        model = MogaNet(MOGA, drop_path_rate=0.1, reference_ops=True)
    else:
        model = BACKBONES[family]()
    model.double().train()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)

    def run():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same drop-path draws
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in outs).backward()
        return [o.detach() for o in outs], {n: p.grad.clone() for n, p in model.named_parameters()}

    plain_outs, plain_grads = run()
    calls = []
    monkeypatch.setattr(scale_module, 'fp16_rescue_active', lambda x: calls.append(1) or True)
    outs, grads = run()
    assert calls, 'the rescue never ran'
    for a, b in zip(outs, plain_outs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    # a gradient that is zero in exact arithmetic (a conv bias in front of a BatchNorm) is
    # rounding noise of the summation order: compared against the largest gradient of the model
    floor = 1e-9 * max(g.abs().max().item() for g in plain_grads.values())
    for name, grad in grads.items():
        expected = plain_grads[name]
        diff = (grad - expected).abs().max().item()
        assert torch.allclose(
            grad, expected, rtol=1e-9, atol=floor), (
                f'{name}: max |difference| {diff:.3e}, max |gradient| {expected.abs().max():.3e}')


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


def test_the_rescue_is_off_while_a_graph_is_captured(monkeypatch):
    """Under fp16 autocast with gradients the rescue is on, but not while ``torch.compile`` (or
    tracing / export) captures a graph: dynamo does not follow its parameter aliases (see
    ``fp16_rescue_active``); the plain ``scale * branch(x)`` runs there."""
    x = torch.zeros(1, 2, 3, 3)
    with torch.autocast('cpu', dtype=torch.float16):
        assert scale_module.fp16_rescue_active(x)
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
        assert not scale_module.fp16_rescue_active(x)
        scale = torch.full((1, 2, 1, 1), 1e-6, requires_grad=True)
        calls = []
        out = scale_module.layer_scaled(scale, [], lambda t: calls.append(t) or t * 2, x)
    assert calls[0] is x  # the branch saw the input itself, not a gradient-scaling alias
    torch.testing.assert_close(out, scale * x * 2)
