"""The Triton kernels (:mod:`mmmoga.models.layers.gpu_ops`) against the plain PyTorch ops, one case
at a time: outputs and gradients, against float64 references computed from the same inputs.

The cases cover every depth-wise kernel shape the models use, both memory layouts and a sliced
(non-dense) input, fp32, fp16 and bf16, at sizes above one tile (the kernels tile 32 output columns
x 32 channels): :data:`KERNEL_CASES`. ``tests/test_gpu_ops.py`` runs them through Triton's
interpreter on the CPU (small sizes: :func:`kernel_cases` with ``scale='interpreter'``);
``tools/analysis/gpu_check.py`` compiles them for the GPU as its first step.

A case fails when a kernel did not run (every launch is counted: a silent fallback to the plain
ops is a failure here), when the kernels switched themselves off (a compile or launch error,
:func:`~mmmoga.models.layers.gpu_ops.gpu_kernels_failure`), or when an output or gradient is
further from the float64 reference than the dtype's tolerance (:data:`TOLERANCES`, relative to the
reference's largest magnitude).
"""
import contextlib
import importlib
from typing import Dict, Iterator, List

import torch
import torch.nn.functional as F
from torch import nn

#: max |ours - float64 reference| / max |reference| per dtype (the kernels accumulate in fp32 and
#: round once to the dtype: half an ulp of fp16 is 2**-11, of bf16 2**-8)
TOLERANCES = {'fp32': 1e-5, 'fp16': 2e-3, 'bf16': 1.6e-2}
DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
#: the depth-wise convolutions of the families: kernel size and dilation
CONVS = {
    '5x5': ((5, 5), (1, 1)),  # MogaNet
    '5x5_d2': ((5, 5), (2, 2)),  # MogaNet
    '7x7_d3': ((7, 7), (3, 3)),  # MogaNet
    '7x7': ((7, 7), (1, 1)),  # HorNet
    '11x11': ((11, 11), (1, 1)),  # Conv2Former
    '1x11': ((1, 11), (1, 1)),
    '11x1': ((11, 1), (1, 1)),
}
KERNEL_NAMES = ('depthwise_conv_kernel', 'depthwise_conv_weight_grad_kernel', 'silu_product_kernel',
                'silu_product_grad_kernel')
#: (batch, channels, height, width) of a case at each scale: ``gpu`` a few tiles of work for every
#: program kind; ``interpreter`` still above one tile in width and channels, small enough for
#: Triton's interpreter; ``smoke`` one tile (a check that the code path runs)
SHAPES = {'gpu': (2, 72, 21, 67), 'interpreter': (1, 40, 5, 37), 'smoke': (1, 5, 3, 7)}


def kernel_cases(scale: str = 'gpu') -> List[dict]:
    """Every case at ``scale`` (see :data:`SHAPES`): each conv in channels-last, fp32 and bf16 and
    fp16 for the large ones, channels-first and sliced inputs for the dilated 7x7, and the SiLU
    product in both layouts and all dtypes."""
    n, c, h, w = SHAPES[scale]
    cases = []
    for name in CONVS:
        for dtype in ('fp32', 'bf16', 'fp16'):
            if dtype != 'fp32' and name not in ('7x7_d3', '7x7', '11x11'):
                continue
            cases.append(dict(op='depthwise', conv=name, dtype=dtype, layout='channels_last'))
    for layout in ('channels_first', 'sliced'):
        cases.append(dict(op='depthwise', conv='7x7_d3', dtype='fp32', layout=layout))
    cases.append(dict(op='depthwise', conv='5x5', dtype='fp32', layout='channels_last', bias=False))
    for layout in ('channels_first', 'channels_last'):
        for dtype in ('fp32', 'bf16', 'fp16'):
            cases.append(dict(op='silu_product', dtype=dtype, layout=layout))
    for case in cases:
        case.setdefault('bias', True)
        case['shape'] = [n, c, h, w]
        case['name'] = '-'.join(
            [case['op'], case.get('conv', ''), case['dtype'], case['layout']] +
            ([] if case['bias'] else ['nobias'])).replace('--', '-')
    return cases


#: the cases the GPU check runs
KERNEL_CASES = kernel_cases('gpu')


def _kernels_module():
    return importlib.import_module('mmmoga.models.layers.triton_kernels')


@contextlib.contextmanager
def counting_launches() -> Iterator[Dict[str, int]]:
    """Count the launches of each Triton kernel inside the block (the proof of which path ran)."""
    kernels = _kernels_module()
    counts: Dict[str, int] = {}
    originals = {name: getattr(kernels, name) for name in KERNEL_NAMES}

    class Counting:

        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            counts[self.name] = counts.get(self.name, 0) + 1
            return self.kernel[grid]

    for name, kernel in originals.items():
        setattr(kernels, name, Counting(name, kernel))
    try:
        yield counts
    finally:
        for name, kernel in originals.items():
            setattr(kernels, name, kernel)


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == 'sliced':  # a channel slice of a wider tensor: neither layout is dense
        wide = torch.zeros(x.shape[0], x.shape[1] + 3, *x.shape[2:], dtype=x.dtype, device=x.device)
        wide[:, 2:2 + x.shape[1]] = x
        return wide[:, 2:2 + x.shape[1]]
    memory_format = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
    return x.contiguous(memory_format=memory_format)


def _relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    reference = reference.double()
    scale = reference.abs().max().clamp_min(1e-30)
    return ((ours.double() - reference).abs().max() / scale).item()


def _depthwise_case(case: dict, device: torch.device) -> dict:
    from mmmoga.models.layers import depthwise_conv2d, gpu_kernels
    kernel, dilation = CONVS[case['conv']]
    n, c, h, w = case['shape']
    dtype = DTYPES[case['dtype']]
    generator = torch.Generator().manual_seed(0)
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    conv = nn.Conv2d(c, c, kernel, padding=padding, dilation=dilation, groups=c, bias=case['bias'])
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.2)
        if conv.bias is not None:
            conv.bias.copy_(torch.randn(c, generator=generator))
    conv = conv.to(device=device, dtype=dtype)
    x0 = torch.randn(n, c, h, w, generator=generator).to(device=device, dtype=dtype)
    x = _layout(x0, case['layout']).requires_grad_()
    grad = torch.randn(n, c, h, w, generator=generator).to(device=device, dtype=dtype)
    with counting_launches() as launches, gpu_kernels(True):
        out = depthwise_conv2d(x, conv)
        out.backward(grad)
    ours = dict(output=out, input_grad=x.grad, weight_grad=conv.weight.grad)
    if conv.bias is not None:
        ours['bias_grad'] = conv.bias.grad
    # float64 reference from the same (rounded) inputs and weights
    ref_conv = nn.Conv2d(
        c, c, kernel, padding=padding, dilation=dilation, groups=c, bias=case['bias']).to(
            device=device, dtype=torch.float64)
    ref_conv.load_state_dict({k: v.double() for k, v in conv.state_dict().items()})
    ref_x = x.detach().double().requires_grad_()
    ref = ref_conv(ref_x)
    ref.backward(grad.double())
    refs = dict(output=ref, input_grad=ref_x.grad, weight_grad=ref_conv.weight.grad)
    if conv.bias is not None:
        refs['bias_grad'] = ref_conv.bias.grad
    expected = {'depthwise_conv_kernel': 2, 'depthwise_conv_weight_grad_kernel': 1}
    return _verdict(case, ours, refs, launches, expected)


def _silu_case(case: dict, device: torch.device) -> dict:
    from mmmoga.models.layers import gpu_kernels, silu_product
    n, c, h, w = case['shape']
    dtype = DTYPES[case['dtype']]
    generator = torch.Generator().manual_seed(0)
    a, b, grad = ((3 * torch.randn(n, c, h, w, generator=generator)).to(device=device, dtype=dtype)
                  for _ in range(3))
    a = _layout(a, case['layout']).requires_grad_()
    b = _layout(b, case['layout']).requires_grad_()
    with counting_launches() as launches, gpu_kernels(True):
        out = silu_product(a, b)
        out.backward(grad)
    ref_a, ref_b = (t.detach().double().requires_grad_() for t in (a, b))
    ref = F.silu(ref_a) * F.silu(ref_b)
    ref.backward(grad.double())
    ours = dict(output=out, a_grad=a.grad, b_grad=b.grad)
    refs = dict(output=ref, a_grad=ref_a.grad, b_grad=ref_b.grad)
    expected = {'silu_product_kernel': 1, 'silu_product_grad_kernel': 1}
    return _verdict(case, ours, refs, launches, expected)


def _verdict(case: dict, ours: dict, refs: dict, launches: Dict[str, int],
             expected: Dict[str, int]) -> dict:
    from mmmoga.models.layers import gpu_ops
    errors = {name: _relative_error(ours[name], refs[name]) for name in refs}
    tolerance = TOLERANCES[case['dtype']]
    problems = []
    if gpu_ops.gpu_kernels_failure() is not None:
        problems.append(f'kernels switched off: {gpu_ops.gpu_kernels_failure()}')
    if launches != expected:
        problems.append(f'launches {launches}, expected {expected}')
    problems += [
        f'{name} error {error:.2e} > {tolerance:g}' for name, error in errors.items()
        if not error <= tolerance
    ]
    dtypes_ok = all(ours[name].dtype == DTYPES[case['dtype']] for name in ours)
    if not dtypes_ok:
        problems.append('a result is not in the case dtype: ' + ', '.join(f'{k} {v.dtype}'
                                                                          for k, v in ours.items()))
    return dict(
        name=case['name'],
        ok=not problems,
        errors=errors,
        tolerance=tolerance,
        launches=launches,
        problems=problems)


def check_kernel_case(case: dict, device: str) -> dict:
    """Run one case (see :func:`kernel_cases`) on ``device`` (``'cuda'``, or ``'cpu'`` under
    ``TRITON_INTERPRET=1``): its verdict, with the relative error of each output and gradient."""
    device = torch.device(device)
    if case['op'] == 'depthwise':
        return _depthwise_case(case, device)
    if case['op'] == 'silu_product':
        return _silu_case(case, device)
    raise ValueError(f"a kernel case's op is 'depthwise' or 'silu_product', got {case['op']!r}")
