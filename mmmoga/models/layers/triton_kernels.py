"""Triton kernels behind :mod:`mmmoga.models.layers.gpu_ops` (imported only when they are used).

Whether the kernels are compiled for the GPU or run by Triton's interpreter on the CPU
(``TRITON_INTERPRET=1``, how the test suite checks them on machines without a GPU) is decided when
this module is imported: :data:`INTERPRETED` records it.

Every kernel takes explicit strides, so the same kernel reads and writes channels-first,
channels-last and sliced (non-contiguous) tensors, and accumulates in fp32 whatever the tensors'
dtype.
"""
import os

import triton
import triton.language as tl


def _interpreted() -> bool:
    knobs = getattr(triton, 'knobs', None)  # Triton >= 3.4; before it, only the variable
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get('TRITON_INTERPRET', '0').strip().lower() in ('1', 'true', 'on')


#: True when the kernels run in Triton's interpreter (on CPU tensors) instead of on a GPU
INTERPRETED = _interpreted()


@triton.jit
def depthwise_conv_kernel(x_ptr, w_ptr, b_ptr, y_ptr, H, W, C, sxn, sxc, sxh, sxw, syn, syc, syh,
                          syw, KH: tl.constexpr, KW: tl.constexpr, DH: tl.constexpr,
                          DW: tl.constexpr, FLIP: tl.constexpr, HAS_BIAS: tl.constexpr,
                          BLOCK_W: tl.constexpr, BLOCK_C: tl.constexpr):
    """Depth-wise, stride-1, 'same'-padded convolution (dilation ``DH``, ``DW``) of one output row
    segment: ``y[n, c, h, w] = b[c] + sum_ij w[c, i, j] x[n, c, h + s (i DH - PH), w + s (j DW -
    PW)]`` with ``s = 1``, or ``s = -1`` with ``FLIP`` (the gradient with respect to the input:
    the same kernel run over the output gradient). Grid: (N * H, cdiv(W, BLOCK_W),
    cdiv(C, BLOCK_C))."""
    PH: tl.constexpr = DH * (KH - 1) // 2
    PW: tl.constexpr = DW * (KW - 1) // 2
    row = tl.program_id(0)
    n = (row // H).to(tl.int64)
    h = row % H
    offs_w = tl.program_id(1) * BLOCK_W + tl.arange(0, BLOCK_W)
    offs_c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    x_row = x_ptr + n * sxn + offs_c[None, :] * sxc
    acc = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32)
    for i in tl.static_range(KH):
        if FLIP:
            hi = h - (i * DH - PH)
        else:
            hi = h + (i * DH - PH)
        row_ok = (hi >= 0) & (hi < H)
        for j in tl.static_range(KW):
            if FLIP:
                wi = offs_w - (j * DW - PW)
            else:
                wi = offs_w + (j * DW - PW)
            inside = row_ok & (wi >= 0) & (wi < W)
            values = tl.load(
                x_row + hi * sxh + wi[:, None] * sxw,
                mask=inside[:, None] & mask_c[None, :],
                other=0.0)
            taps = tl.load(w_ptr + offs_c * (KH * KW) + (i * KW + j), mask=mask_c, other=0.0)
            acc += values.to(tl.float32) * taps.to(tl.float32)[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + offs_c, mask=mask_c, other=0.0).to(tl.float32)[None, :]
    out = y_ptr + n * syn + h * syh + offs_w[:, None] * syw + offs_c[None, :] * syc
    tl.store(out, acc.to(y_ptr.dtype.element_ty), mask=(offs_w < W)[:, None] & mask_c[None, :])


@triton.jit
def depthwise_conv_weight_grad_kernel(x_ptr, g_ptr, out_ptr, H, W, C, rows, rows_per_program, sxn,
                                      sxc, sxh, sxw, sgn, sgc, sgh, sgw, KH: tl.constexpr,
                                      KW: tl.constexpr, DH: tl.constexpr, DW: tl.constexpr,
                                      BLOCK_W: tl.constexpr, BLOCK_C: tl.constexpr):
    """Partial weight gradient of :func:`depthwise_conv_kernel` for one tap ``(i, j)``, one channel
    block and one slice of the ``N * H`` output rows: ``out[split, c, i * KW + j] = sum g[n, c, h,
    w] x[n, c, h + i DH - PH, w + j DW - PW]`` over the slice. Grid: (KH * KW, cdiv(C, BLOCK_C),
    splits); the caller sums over ``split`` (fp32, shape ``(splits, C, KH * KW)``)."""
    PH: tl.constexpr = DH * (KH - 1) // 2
    PW: tl.constexpr = DW * (KW - 1) // 2
    tap = tl.program_id(0)
    i = tap // KW
    j = tap % KW
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    split = tl.program_id(2)
    first = split * rows_per_program
    last = tl.minimum(first + rows_per_program, rows)
    acc = tl.zeros((BLOCK_W, BLOCK_C), dtype=tl.float32)
    for row in range(first, last):
        n = (row // H).to(tl.int64)
        h = row % H
        hi = h + (i * DH - PH)
        row_ok = (hi >= 0) & (hi < H)
        for w0 in range(0, W, BLOCK_W):
            offs_w = w0 + tl.arange(0, BLOCK_W)
            wi = offs_w + (j * DW - PW)
            inside = row_ok & (wi >= 0) & (wi < W) & (offs_w < W)
            mask = inside[:, None] & mask_c[None, :]
            values = tl.load(
                x_ptr + n * sxn + offs_c[None, :] * sxc + hi * sxh + wi[:, None] * sxw,
                mask=mask,
                other=0.0)
            grads = tl.load(
                g_ptr + n * sgn + offs_c[None, :] * sgc + h * sgh + offs_w[:, None] * sgw,
                mask=mask,
                other=0.0)
            acc += values.to(tl.float32) * grads.to(tl.float32)
    out = out_ptr + (split * C + offs_c) * (KH * KW) + tap
    tl.store(out, tl.sum(acc, axis=0), mask=mask_c)


@triton.jit
def silu_product_kernel(a_ptr, b_ptr, y_ptr, numel, BLOCK: tl.constexpr):
    """``y = SiLU(a) * SiLU(b)`` over the storage of three same-strided dense tensors."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = a * tl.sigmoid(a) * b * tl.sigmoid(b)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def silu_product_grad_kernel(a_ptr, b_ptr, g_ptr, ga_ptr, gb_ptr, numel, BLOCK: tl.constexpr):
    """Gradients of :func:`silu_product_kernel`: ``ga = g SiLU(b) SiLU'(a)``,
    ``gb = g SiLU(a) SiLU'(b)``, ``SiLU'(x) = sigmoid(x) (1 + x (1 - sigmoid(x)))``."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    a = tl.load(a_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    sig_a = tl.sigmoid(a)
    sig_b = tl.sigmoid(b)
    ga = g * b * sig_b * sig_a * (1 + a * (1 - sig_a))
    gb = g * a * sig_a * sig_b * (1 + b * (1 - sig_b))
    tl.store(ga_ptr + offs, ga.to(ga_ptr.dtype.element_ty), mask=mask)
    tl.store(gb_ptr + offs, gb.to(gb_ptr.dtype.element_ty), mask=mask)
