"""Numeric helpers of the backbone tests: RNG-free weights and inputs for the numeric fixtures
(values depend only on key names and sizes, so the fixtures do not change with torch's random
generator), scales and BN statistics pushed far from their init, the relative error, a release
loaded through ``init_cfg`` with its outputs compared bit for bit, and the official classifiers'
parameter counts as the metafiles record them."""
import functools

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

SCALE_NAMES = ('layer_scale_1', 'layer_scale_2', 'gamma', 'gamma1', 'gamma2')


def hash_noise(n, seed):
    """RNG-free pseudo-random numbers in [-1, 1):
    ``fract(sin(12.9898 i + 78.233 seed) * 43758.5453)`` in float64 (independent of torch's RNG)."""
    t = torch.sin(torch.arange(n, dtype=torch.float64) * 12.9898 + seed * 78.233) * 43758.5453
    return 2 * (t - t.floor()) - 1


def deterministic_state_dict(state_dict):
    """RNG-free weights seeded by the key name (same values for the same key in any model)."""
    out = {}
    for key, v in state_dict.items():
        if not v.is_floating_point():
            out[key] = v.clone()
            continue
        seed = sum(ord(c) * (i + 1) for i, c in enumerate(key)) % 1000
        base = hash_noise(v.numel(), seed).reshape(v.shape)
        if key.endswith('running_var'):
            t = 1 + 0.5 * base.abs()
        elif v.ndim > 1:
            t = base * (3.0 / v[0].numel())**0.5
        elif key.endswith(('layer_scale_1', 'layer_scale_2', 'gamma')):
            t = 0.5 + 0.25 * base
        elif key.endswith('weight'):
            t = 1 + 0.2 * base
        else:
            t = 0.1 * base
        out[key] = t.to(v.dtype)
    return out


def deterministic_input(n, h, w):
    return hash_noise(n * 3 * h * w, 7).reshape(n, 3, h, w).float()


def stats(x):
    f = x.flatten()
    return torch.stack([f.mean(), f.abs().mean(), f[0], f[f.numel() // 3], f[-1]])


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@functools.lru_cache(maxsize=None)
def _metafile_parameters():
    from mmmoga import metafiles
    return {e['Name']: e['Metadata']['Parameters'] for e in metafiles.load_entries()}


def classifier_params(name: str) -> int:
    """The official ImageNet classifier's parameter count of ``name`` (``moganet_s``), as its
    metafile entry ``imagenet_<name>`` records it (tests/test_model_zoo.py checks the entry
    against the config's build and the paper)."""
    return _metafile_parameters()[f'imagenet_{name}']


def randomise(model: nn.Module,
              seed: int = 0,
              in_channels: int = 3,
              scales=(0.2, 1.0)) -> nn.Module:
    """Give every layer scale, sigma and BN affine values far from their init, and every BN the
    running statistics of a real batch (so activations stay of order 1 through the network); the
    BN momentum is left as it was. Returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(t, low, high):
        return low + (high - low) * torch.rand(t.shape, generator=gen)

    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name.rsplit('.', 1)[-1]
            if leaf in SCALE_NAMES:
                param.copy_(uniform(param, *scales))
            elif name.endswith('sigma.scale'):
                param.copy_(uniform(param, -0.5, 0.5))
        bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.weight.copy_(uniform(bn.weight, 0.5, 1.5))
            bn.bias.copy_(0.2 * torch.randn(bn.bias.shape, generator=gen))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one batch sets the statistics
        if bns:
            model.train()
            model(torch.randn(4, in_channels, 64, 64, generator=gen))
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
    return model.eval()


def relative_error(outs, refs):
    """The largest ``max |o - r| / max |r|`` over pairs of tensors."""
    return max(((o - r).abs().max() / r.abs().max()).item() for o, r in zip(outs, refs))


def load_pretrained(backbone, path, *args, **kwargs):
    """``backbone(*args, **kwargs)`` initialised from the file at ``path`` through
    ``init_cfg=dict(type='Pretrained')``, as a config loads a release; in eval mode."""
    model = backbone(*args, init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kwargs)
    model.init_weights()
    return model.eval()


def assert_same_outputs(expected, model, x):
    """Every output of ``model(x)`` equals that of ``expected(x)`` bit for bit."""
    with torch.no_grad():
        wanted, got = expected(x), model(x)
    assert len(wanted) == len(got)
    for a, b in zip(wanted, got):
        assert torch.equal(a, b)
