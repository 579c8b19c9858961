"""Small models for behaviour tests: one small custom arch per family (fast to build, every stage
and block kind present), ``SMALL_BACKBONES[name](**backbone_kwargs)``; narrower ones with one block
a stage, ``TINY_BACKBONES``, for tests that run Triton kernels in its (slow) interpreter; and a
one-step benchmark measurement spec, :func:`tiny_spec`."""
from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet

HORNET_ARCH = dict(embed_dims=[32, 64, 128, 256], depths=[1, 1, 2, 1], orders=[2, 3, 4, 5])
SMALL_BACKBONES = {
    'moganet':
    lambda **kwargs: MogaNet(
        dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], ffn_ratios=[4, 4, 4, 4]), **kwargs),
    'hornet-7x7':
    lambda **kwargs: HorNet(HORNET_ARCH, **kwargs),
    'hornet-gf':
    lambda **kwargs: HorNet(HORNET_ARCH, mixer='gf', **kwargs),
    'conv2former':
    lambda **kwargs: Conv2Former(
        dict(
            embed_dims=[16, 32, 48, 64],
            depths=[1, 1, 2, 1],
            mlp_ratios=[4, 4, 4, 4],
            kernel_size=7), **kwargs),
    'inceptionnext':
    lambda **kwargs: InceptionNeXt(
        dict(
            embed_dims=[16, 32, 64, 128],
            depths=[1, 1, 2, 1],
            mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=11,
            branch_ratio=0.125), **kwargs),
}

TINY_BACKBONES = {
    'moganet':
    lambda **kwargs: MogaNet(
        dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2]), **kwargs),
    'hornet-7x7':
    lambda **kwargs: HorNet(
        dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]), **kwargs),
    'conv2former':
    lambda **kwargs: Conv2Former(
        dict(
            embed_dims=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            mlp_ratios=[2, 2, 2, 2],
            kernel_size=11), **kwargs),
}


def tiny_spec(**changes) -> dict:
    """A ``mmmoga.benchmark.measure`` spec: MogaNet-XT at 64x64, batch 1, one step, one thread,
    with ``changes`` applied."""
    return dict(
        dict(
            model='moganet-xt',
            mode='infer',
            batch=1,
            size=64,
            dtype='fp32',
            memory_format='channels_first',
            with_cp=False,
            iters=1,
            warmup=0,
            device='cpu',
            threads=1), **changes)
