"""The contract every backbone family keeps: ``frozen_stages``, ``norm_eval``, ``with_cp`` (also
under a kernel switch), bf16 autocast, ``reference_ops``, the defaults by measurement, the shared
argument names, the output norms, the classification form and the registries, as checks that take
a builder (``build(**kwargs) -> backbone``). ``tests/test_backbone_contract.py`` runs them over the
small model of every family (``tests/small_models.py``); :func:`check_contract` runs them all for
one family (a new family's test calls it)."""
import inspect
import os.path as osp

import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.models.backbones import BaseBackbone
from mmmoga.models.layers import (LayerNorm2d, cpu_kernels, cpu_kernels_enabled, gpu_kernels,
                                  gpu_kernels_enabled)
from mmmoga.registry import MODELS

#: the GPU page, whose "Defaults on CUDA" table records the measurements behind the CUDA defaults
GPU_DOC = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'docs', 'gpu.md')
# the layer scales' official key names (kept: the releases load by them)
LAYER_SCALES = ('layer_scale_1', 'layer_scale_2', 'gamma', 'gamma1', 'gamma2')
# one name per concept: the arguments every family takes, and other libraries' names for them
SHARED_ARGUMENTS = ('arch', 'out_indices', 'frozen_stages', 'norm_eval', 'with_cp',
                    'drop_path_rate', 'layer_scale_init_value', 'channels_last', 'reference_ops',
                    'init_cfg')
OTHER_NAMES = ('out_norms', 'gap_before_final_norm', 'ls_init_value', 'layer_scale_init',
               'init_values', 'use_layer_scale')


def batch_norms(model):
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def check_frozen(model, frozen_stages):
    covered = set()
    for i in range(4):
        frozen = i <= frozen_stages
        for module in model.stage_modules(i):
            for p in module.parameters():
                covered.add(id(p))
                assert p.requires_grad is not frozen, (i, module)
            assert all(m.training is not frozen for m in module.modules()), (i, module)
    assert covered == {id(p) for p in model.parameters()}  # every parameter belongs to a stage


def check_frozen_stages(build, frozen_stages, out_indices):
    model = build(frozen_stages=frozen_stages, out_indices=out_indices).train()
    check_frozen(model, frozen_stages)
    model.train(False)
    model.train(True)  # freezing survives another train()
    check_frozen(model, frozen_stages)
    frozen_norms = [
        m for i in range(frozen_stages + 1) for s in model.stage_modules(i) for m in batch_norms(s)
    ]
    before = [m.running_mean.clone() for m in frozen_norms]
    outs = model(torch.rand(2, 3, 64, 64))
    assert len(outs) == len(out_indices)
    # frozen BN statistics do not move in training mode
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, frozen_norms))


def check_frozen_stages_in_classification_form(build, form, frozen_stages):
    model = build(frozen_stages=frozen_stages, **form)
    check_frozen(model.train(), frozen_stages)  # the final norm / head belong to the last stage
    assert model(torch.rand(1, 3, 64, 64))[-1].ndim == 2  # pooled features or class scores


def check_frozen_stages_beyond_the_last_stage_are_refused(build):
    with pytest.raises(ValueError, match=r'frozen_stages must be in \[-1, 3\]'):
        build(frozen_stages=4)


def check_norm_eval_freezes_only_the_batch_norms(build, has_batch_norms=True):
    model = build(norm_eval=True).train()
    norms = batch_norms(model)
    assert bool(norms) is has_batch_norms
    assert all(not m.training for m in norms)
    assert all(m.training for m in model.modules() if not isinstance(m, _BatchNorm))
    before = [m.running_mean.clone() for m in norms]
    model(torch.rand(2, 3, 32, 32))
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))


def check_layer_scale_init_value(build):
    """One name for the layer scales' initial value in every family."""
    model = build(layer_scale_init_value=0.25)
    scales = [p for n, p in model.named_parameters() if n.rsplit('.', 1)[-1] in LAYER_SCALES]
    assert scales and all(torch.equal(p, torch.full_like(p, 0.25)) for p in scales)


def check_drop_path_rises_linearly(build):
    """Stochastic depth rises linearly over the blocks from 0 (the first block has none) to
    ``drop_path_rate`` (the last block): each block's rate, from its ``drop_path`` module
    (``DropPath.drop_prob``, ``Identity`` for 0) or its own ``drop_path_rate``."""
    model = build(drop_path_rate=0.5)
    rates = []
    for module in model.modules():
        if isinstance(getattr(module, 'drop_path', None), nn.Module):
            rates.append(getattr(module.drop_path, 'drop_prob', 0.))
        elif module is not model and isinstance(getattr(module, 'drop_path_rate', None), float):
            rates.append(module.drop_path_rate)
    assert len(rates) >= model.num_stages, rates
    assert rates == pytest.approx(torch.linspace(0, 0.5, len(rates)).tolist())


def check_arch_aliases(backbone):
    """Every name of an arch (``arch_zoo`` keys that share a dict, ``'t'`` and ``'tiny'``) builds
    the same arch, in any case; an unknown name is refused with the valid names."""
    groups = {}
    for name, arch in backbone.arch_zoo.items():
        groups.setdefault(id(arch), []).append(name)
    assert all(len(names) >= 2 for names in groups.values()), groups  # a short and a long name
    for names in groups.values():
        parsed = [backbone.parse_arch(n) for n in names] + [backbone.parse_arch(names[0].upper())]
        assert all(p == parsed[0] for p in parsed), names
    with pytest.raises(ValueError, match='Valid names'):
        backbone.parse_arch('no-such-arch')


def check_with_cp_same_outputs_gradients_and_statistics(build):
    torch.manual_seed(0)
    plain = build(drop_path_rate=0.2, frozen_stages=0)
    checkpointed = build(drop_path_rate=0.2, frozen_stages=0, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    initial = {k: v.clone() for k, v in plain.state_dict().items()}
    x = torch.rand(2, 3, 64, 96)
    outputs = []
    for model in (plain, checkpointed):
        model.train()
        torch.manual_seed(1)  # the same drop-path draws in both runs
        outs = model(x)
        sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()
        outputs.append(outs)
    for a, b in zip(*outputs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    grads = dict(checkpointed.named_parameters())
    for name, param in plain.named_parameters():
        if param.requires_grad:
            torch.testing.assert_close(param.grad, grads[name].grad, rtol=1e-5, atol=1e-6, msg=name)
        else:  # stage 0 is frozen
            assert param.grad is None and grads[name].grad is None, name
    assert any(p.grad.abs().sum() > 0 for p in plain.parameters() if p.requires_grad)
    # BN running statistics are updated once per step, as without checkpointing
    buffers = dict(checkpointed.named_buffers())
    for name, buffer in plain.named_buffers():
        torch.testing.assert_close(buffer, buffers[name], rtol=0, atol=0, msg=name)
    moved = [
        n for n, b in buffers.items()
        if n.endswith('running_mean') and not torch.equal(b, initial[n])
    ]
    assert bool(moved) is bool(batch_norms(plain))


def check_with_cp_recomputes_under_the_forwards_switches(build, switch=None, size=64):
    """``with_cp=True`` run inside a kernel switch (default ``cpu_kernels(False)``), backward out of
    it: the recomputation takes the forward's path (no ``CheckpointError``), and the gradients are
    those of the same model without checkpointing under the same switch."""
    switch = switch or (lambda: cpu_kernels(False))
    torch.manual_seed(0)
    plain = build().train()
    checkpointed = build(with_cp=True).train()
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, size, size)
    grads = []
    for model in (plain, checkpointed):
        with switch():
            outs = model(x)
        sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()  # outside the switch
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-5, atol=1e-6, msg=name)


def cuda_records(path):
    """The rows of the "Defaults on CUDA" table of docs/gpu.md: ``(family, default, dtype)``."""
    import re
    text = open(path).read()
    section = text.split('## Defaults on CUDA', 1)[1].split('\n## ', 1)[0]
    rows = re.findall(r'^\| (\w+) \| (channels-last|fast ops) \| (fp32|bf16|fp16) \|', section,
                      re.M)
    assert rows, f'no records found in the "Defaults on CUDA" table of {path}'
    return set(rows)


class OnCuda:
    """What the defaults read of an input on CUDA (its device and dtype), without a GPU."""

    def __init__(self, dtype=torch.float32):
        self.device, self.dtype = torch.device('cuda'), dtype


def check_defaults_by_measurement(backbone, build, records, cpu_channels_last=None):
    """``channels_last=None`` / ``reference_ops=None`` on CUDA compute what the official code
    computes (NCHW, the official op sequence), except for a family, default and dtype that a GPU
    measurement recorded in docs/gpu.md supports (every CUDA entry of the family's tables has its
    record, and every record its entry); on CPU the measured defaults hold (``cpu_channels_last``);
    an explicit choice wins."""
    tables = {
        'channels-last': backbone.measured_channels_last,
        'fast ops': backbone.measured_fast_ops
    }
    entries = {(backbone.__name__, default, dtype)
               for default, table in tables.items()
               for dtype in table.get('cuda', ())}
    assert '*' not in {dtype for _, _, dtype in entries}, 'a CUDA default for every dtype'
    assert entries == {r for r in records if r[0] == backbone.__name__}
    model = build()
    for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16), ('fp16', torch.float16)):
        x = OnCuda(dtype)
        assert model.computes_channels_last(x) == ((backbone.__name__, 'channels-last', name)
                                                   in entries)
        assert model.uses_fast_ops(x) == ((backbone.__name__, 'fast ops', name) in entries)
    on_cpu = torch.zeros(1, 3, 8, 8)
    if cpu_channels_last is not None:
        assert model.computes_channels_last(on_cpu) == cpu_channels_last
    assert build(channels_last=True).computes_channels_last(OnCuda())
    assert not build(channels_last=False).computes_channels_last(on_cpu)
    assert build(reference_ops=False).uses_fast_ops(OnCuda())
    assert not build(reference_ops=True).uses_fast_ops(on_cpu)


def check_unmeasured_defaults_compute_the_official_code(backbone, build, monkeypatch):
    """Where no measurement supports a fast path (here: the CPU taken out of the family's tables),
    the defaults compute bit for bit what ``reference_ops=True, channels_last=False`` computes
    (outputs and input gradients); with the tables as they are, a family with a measured CPU fast
    path computes otherwise (the control)."""

    def outputs(model, x):
        x = x.clone().requires_grad_()
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        return [o.detach() for o in outs] + [x.grad]

    torch.manual_seed(0)
    reference = build(reference_ops=True, channels_last=False).train()
    x = torch.randn(2, 3, 64, 64)
    expected = outputs(reference, x)
    measured = build().train()
    measured.load_state_dict(reference.state_dict())
    as_measured = outputs(measured, x)
    for table in (backbone.measured_channels_last, backbone.measured_fast_ops):
        monkeypatch.delitem(table, 'cpu', raising=False)
    default = build().train()
    default.load_state_dict(reference.state_dict())
    for ours, theirs in zip(outputs(default, x), expected):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    return all(torch.equal(a, b) for a, b in zip(as_measured, expected))


def check_bf16_autocast_stays_close_to_fp32(build):
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        refs = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = model(x)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape and torch.isfinite(out).all()
        assert (out.float() - ref).norm() / ref.norm() < 0.05


def check_argument_names(backbone):
    """The shared concepts have the shared names: the arguments of :data:`SHARED_ARGUMENTS`;
    per-output norms are ``out_norm_cfg`` and the classification form ``with_cls_head`` where a
    family has them; no other library's name for them."""
    parameters = inspect.signature(backbone.__init__).parameters
    missing = [name for name in SHARED_ARGUMENTS if name not in parameters]
    assert not missing, f'{backbone.__name__} lacks {missing}'
    others = [name for name in OTHER_NAMES if name in parameters]
    assert not others, f'{backbone.__name__} names a shared concept otherwise: {others}'
    for name in ('channels_last', 'reference_ops'):  # by default: as measured
        assert parameters[name].default is None, f'{backbone.__name__}: {name} defaults to None'
    if backbone.classification_form is not None:
        assert backbone.classification_form.get('with_cls_head') is True
        assert 'with_cls_head' in parameters
    first, *rest = list(parameters.values())[1:]
    assert first.name == 'arch'
    positional = [p.name for p in rest if p.kind not in (p.KEYWORD_ONLY, p.VAR_KEYWORD)]
    assert not positional, f'{backbone.__name__}: keyword-only after arch, not {positional}'


def check_forward_is_the_template(backbone, build):
    """The family implements its stages (``forward_stage``), not a forward of its own, and nothing
    runs through forward hooks; the stages after the last output do not run."""
    assert backbone.forward is BaseBackbone.forward, f'{backbone.__name__} has its own forward'
    assert backbone.forward_stage is not BaseBackbone.forward_stage
    model = build(out_indices=(1, )).eval()
    assert not (model._forward_pre_hooks or model._forward_hooks)
    run = []
    forward_stage = model.forward_stage
    model.forward_stage = lambda i, x: run.append(i) or forward_stage(i, x)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    assert run == [0, 1] and len(outs) == 1 and outs[0].dim() == 4


def check_reference_ops_runs_without_kernels(build):
    """``reference_ops=True``: the forward, and the recomputation of ``with_cp`` blocks, see both
    kernel switches off (both on around the call); they are restored afterwards, also after a
    forward that raised; the outputs are the default path's."""

    def switches_seen(model, gpu_on):
        seen = []
        hooks = [
            m.register_forward_pre_hook(lambda *_: seen.append(
                (cpu_kernels_enabled(), gpu_kernels_enabled()))) for m in model.modules()
            if not list(m.children())
        ]
        x = torch.rand(2, 3, 32, 32)
        with gpu_kernels(gpu_on):
            outs = model(x)
            sum(o.sum() for o in outs).backward()
        for hook in hooks:
            hook.remove()
        return seen

    torch.manual_seed(0)
    default = build(with_cp=True).eval()
    reference = build(with_cp=True, reference_ops=True).eval()
    reference.load_state_dict(default.state_dict())
    assert reference.reference_ops and not default.reference_ops
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(default(x), reference(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    default.train()
    reference.train()
    seen = switches_seen(reference, gpu_on=True)  # both on around the backbone
    leaves = sum(1 for m in reference.modules() if not list(m.children()))
    assert len(seen) > leaves  # the recomputation ran too
    assert set(seen) == {(False, False)}, 'a kernel switch was on under reference_ops'
    assert cpu_kernels_enabled() and not gpu_kernels_enabled()  # restored
    # control: the default path sees the switches as they are (the GPU kernels stay off: on the
    # CPU they would run in Triton's interpreter, slowly)
    assert set(switches_seen(default, gpu_on=False)) == {(True, False)}
    # restored after a forward that raised
    hook = reference.stage_modules(0)[0].register_forward_hook(lambda *_: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        reference(torch.rand(1, 3, 64, 64))
    hook.remove()
    assert cpu_kernels_enabled()


def has_out_norms(backbone):
    return 'out_norm_cfg' in inspect.signature(backbone.__init__).parameters


def check_out_norms(build, classification_form=None):
    """``out_norm_cfg`` adds a norm ``norm{i}`` to each dense output ``i`` of ``out_indices`` and
    to no other (none to the classification form's pooled output); an output is its norm applied
    to the raw stage output, handed back contiguous."""
    model = build(out_indices=(0, 2), out_norm_cfg=dict(type='LN2d')).eval()
    assert isinstance(model.norm0, LayerNorm2d) and isinstance(model.norm2, LayerNorm2d)
    assert not hasattr(model, 'norm1') and not hasattr(model, 'norm3')
    raw = build(out_indices=(0, 2), out_norm_cfg=None).eval()
    assert not any(hasattr(raw, f'norm{i}') for i in range(4))
    raw.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith('norm')})
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        normed, unnormed = model(x), raw(x)
        for i, out, plain in zip((0, 2), normed, unnormed):
            torch.testing.assert_close(out, getattr(model, f'norm{i}')(plain))
            assert out.is_contiguous()
    sync = build(out_norm_cfg=dict(type='SyncBN'))
    assert all(isinstance(getattr(sync, f'norm{i}'), nn.SyncBatchNorm) for i in range(4))
    if classification_form is not None:
        form = dict(classification_form, out_indices=(2, 3))
        cls = build(out_norm_cfg=dict(type='LN2d'), **form)
        assert hasattr(cls, 'norm2') and not hasattr(cls, 'norm3')


def check_registries_build_the_family(backbone, kwargs):
    name = backbone.__name__
    for registry, type_name in ((MODELS, name), (ROOT_MODELS, name), (ROOT_MODELS,
                                                                      f'mmmoga.{name}')):
        model = registry.build(dict(type=type_name, out_indices=(3, ), **kwargs))
        assert type(model) is backbone and model.out_indices == (3, )


def check_contract(backbone, kwargs, has_batch_norms=True):
    """Every check, for the family ``backbone`` built small with ``kwargs``."""

    def build(**more):
        return backbone(**kwargs, **more)

    for frozen_stages in (-1, 0, 3):
        check_frozen_stages(build, frozen_stages, (0, 2))
        if backbone.classification_form is not None:
            check_frozen_stages_in_classification_form(build, backbone.classification_form,
                                                       frozen_stages)
    check_frozen_stages_beyond_the_last_stage_are_refused(build)
    check_norm_eval_freezes_only_the_batch_norms(build, has_batch_norms)
    check_layer_scale_init_value(build)
    check_drop_path_rises_linearly(build)
    check_arch_aliases(backbone)
    check_with_cp_same_outputs_gradients_and_statistics(build)
    check_with_cp_recomputes_under_the_forwards_switches(build)
    check_bf16_autocast_stays_close_to_fp32(build)
    check_defaults_by_measurement(backbone, build, cuda_records(GPU_DOC))
    check_argument_names(backbone)
    check_forward_is_the_template(backbone, build)
    if has_out_norms(backbone):
        check_out_norms(build, backbone.classification_form)
    check_reference_ops_runs_without_kernels(build)
    check_registries_build_the_family(backbone, kwargs)
