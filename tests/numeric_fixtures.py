"""RNG-free weights and inputs for the numeric fixtures of the backbone tests (values depend
only on key names and sizes, so the fixtures do not change with torch's random generator)."""
import torch


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
