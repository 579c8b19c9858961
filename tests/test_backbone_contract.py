"""The options every backbone family offers, checked once over the small model of each family
(``tests/small_models.py``): ``frozen_stages``, ``norm_eval``, ``with_cp``, bf16 autocast and the
registries. A new family gets these tests by adding its small model there."""
import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from small_models import SMALL_BACKBONES, SMALL_SPECS
from torch.nn.modules.batchnorm import _BatchNorm

from mmmoga.registry import MODELS

FAMILIES = sorted(SMALL_BACKBONES)
# the families with a classification form (the official classifier's trunk)
CLASSIFICATION_MODE = {
    name: backbone.classification_form
    for name, (backbone, _) in SMALL_SPECS.items() if backbone.classification_form is not None
}
# Conv2Former normalises its outputs with LayerNorm unless told otherwise: BN outputs give its
# norm_eval and frozen-statistics checks something to hold
WITH_BN = {'conv2former': dict(out_norm_cfg=dict(type='BN'))}


def small(family, **kwargs):
    return SMALL_BACKBONES[family](**WITH_BN.get(family, {}), **kwargs)


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


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3])
@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (3, ), (0, 2)])
def test_frozen_stages(family, frozen_stages, out_indices):
    model = small(family, frozen_stages=frozen_stages, out_indices=out_indices).train()
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


@pytest.mark.parametrize('family', sorted(CLASSIFICATION_MODE))
@pytest.mark.parametrize('frozen_stages', [-1, 1, 3])
def test_frozen_stages_in_classification_mode(family, frozen_stages):
    model = SMALL_BACKBONES[family](frozen_stages=frozen_stages, **CLASSIFICATION_MODE[family])
    check_frozen(model.train(), frozen_stages)  # the final norm / head belong to the last stage
    assert model(torch.rand(1, 3, 64, 64))[-1].ndim == 2  # pooled features or class scores


@pytest.mark.parametrize('family', FAMILIES)
def test_frozen_stages_beyond_the_last_stage_are_refused(family):
    with pytest.raises(ValueError, match=r'frozen_stages must be in \[-1, 3\]'):
        SMALL_BACKBONES[family](frozen_stages=4)


@pytest.mark.parametrize('family', FAMILIES)
def test_norm_eval_freezes_only_the_batch_norms(family):
    model = small(family, norm_eval=True).train()
    norms = batch_norms(model)
    assert all(not m.training for m in norms)
    assert all(m.training for m in model.modules() if not isinstance(m, _BatchNorm))
    before = [m.running_mean.clone() for m in norms]
    model(torch.rand(2, 3, 32, 32))
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))
    if not family.startswith('hornet'):  # HorNet has LayerNorms only
        assert norms


@pytest.mark.parametrize('family', FAMILIES)
def test_with_cp_same_outputs_gradients_and_statistics(family):
    torch.manual_seed(0)
    plain = small(family, drop_path_rate=0.2, frozen_stages=0)
    checkpointed = small(family, drop_path_rate=0.2, frozen_stages=0, with_cp=True)
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


@pytest.mark.parametrize('family', FAMILIES)
def test_bf16_autocast_stays_close_to_fp32(family):
    torch.manual_seed(0)
    model = small(family).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        refs = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = model(x)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape and torch.isfinite(out).all()
        assert (out.float() - ref).norm() / ref.norm() < 0.05


@pytest.mark.parametrize('family', FAMILIES)
def test_registries_build_the_family(family):
    backbone, kwargs = SMALL_SPECS[family]
    name = backbone.__name__
    for registry, type_name in ((MODELS, name), (ROOT_MODELS, name), (ROOT_MODELS,
                                                                      f'mmmoga.{name}')):
        model = registry.build(dict(type=type_name, out_indices=(3, ), **kwargs))
        assert type(model) is backbone and model.out_indices == (3, )
