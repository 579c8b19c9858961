"""The backbone contract (``tests/backbone_contract.py``) over the small model of every family
(``tests/small_models.py``)."""
import functools

import backbone_contract as contract
import pytest
from small_models import SMALL_BACKBONES, SMALL_SPECS

FAMILIES = sorted(SMALL_BACKBONES)
# the families with a classification form (the official classifier's trunk)
CLASSIFICATION_FORMS = {
    name: backbone.classification_form
    for name, (backbone, _) in SMALL_SPECS.items() if backbone.classification_form is not None
}
# Conv2Former normalises its outputs with LayerNorm unless told otherwise: BN outputs give its
# norm_eval and frozen-statistics checks something to hold
WITH_BN = {'conv2former': dict(out_norm_cfg=dict(type='BN'))}


def small(family):
    return functools.partial(SMALL_BACKBONES[family], **WITH_BN.get(family, {}))


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3])
@pytest.mark.parametrize('out_indices', [(0, 1, 2, 3), (3, ), (0, 2)])
def test_frozen_stages(family, frozen_stages, out_indices):
    contract.check_frozen_stages(small(family), frozen_stages, out_indices)


@pytest.mark.parametrize('family', sorted(CLASSIFICATION_FORMS))
@pytest.mark.parametrize('frozen_stages', [-1, 1, 3])
def test_frozen_stages_in_classification_form(family, frozen_stages):
    contract.check_frozen_stages_in_classification_form(SMALL_BACKBONES[family],
                                                        CLASSIFICATION_FORMS[family], frozen_stages)


@pytest.mark.parametrize('family', FAMILIES)
def test_drop_path_rises_linearly(family):
    contract.check_drop_path_rises_linearly(SMALL_BACKBONES[family])


@pytest.mark.parametrize('family', FAMILIES)
def test_arch_aliases(family):
    contract.check_arch_aliases(SMALL_SPECS[family][0])


@pytest.mark.parametrize('family', FAMILIES)
def test_frozen_stages_beyond_the_last_stage_are_refused(family):
    contract.check_frozen_stages_beyond_the_last_stage_are_refused(SMALL_BACKBONES[family])


@pytest.mark.parametrize('family', FAMILIES)
def test_norm_eval_freezes_only_the_batch_norms(family):
    # HorNet has LayerNorms only
    contract.check_norm_eval_freezes_only_the_batch_norms(
        small(family), not family.startswith('hornet'))


@pytest.mark.parametrize('family', FAMILIES)
def test_layer_scale_init_value(family):
    contract.check_layer_scale_init_value(small(family))


@pytest.mark.parametrize('family', FAMILIES)
def test_with_cp_same_outputs_gradients_and_statistics(family):
    contract.check_with_cp_same_outputs_gradients_and_statistics(small(family))


@pytest.mark.parametrize('family', FAMILIES)
def test_with_cp_recomputes_under_the_forwards_switches(family):
    contract.check_with_cp_recomputes_under_the_forwards_switches(small(family))


def test_with_cp_recomputation_without_the_forwards_switches_fails(monkeypatch):
    """Control: a recomputation that does not restore the forward's switches takes another path in
    MogaNet (the CPU kernels' phase-split dilated convolution) and fails."""
    from torch.utils.checkpoint import CheckpointError

    from mmmoga.models.layers import activation_checkpoint
    monkeypatch.setattr(activation_checkpoint, 'switch_states', lambda: {})
    with pytest.raises(CheckpointError, match='metadata'):
        contract.check_with_cp_recomputes_under_the_forwards_switches(small('moganet'))


@pytest.mark.parametrize('family', FAMILIES)
def test_bf16_autocast_stays_close_to_fp32(family):
    contract.check_bf16_autocast_stays_close_to_fp32(small(family))


@pytest.mark.parametrize('family', FAMILIES)
def test_registries_build_the_family(family):
    contract.check_registries_build_the_family(*SMALL_SPECS[family])


@pytest.mark.parametrize('family',
                         [f for f in FAMILIES if contract.has_out_norms(SMALL_SPECS[f][0])])
def test_out_norms(family):
    contract.check_out_norms(small(family), SMALL_SPECS[family][0].classification_form)


@pytest.mark.parametrize('family', FAMILIES)
def test_reference_ops_runs_without_kernels(family):
    contract.check_reference_ops_runs_without_kernels(small(family))


#: the CPU layouts as measured (docs/gpu.md "Layout defaults"): HorNet gains nothing channels-last
CPU_CHANNELS_LAST = {name: not name.startswith('hornet') for name in FAMILIES}


@pytest.mark.parametrize('family', FAMILIES)
def test_defaults_by_measurement(family):
    contract.check_defaults_by_measurement(SMALL_SPECS[family][0], small(family),
                                           contract.cuda_records(contract.GPU_DOC),
                                           CPU_CHANNELS_LAST[family])


def test_a_cuda_default_without_its_record_is_refused(monkeypatch):
    """Control: a CUDA default that docs/gpu.md does not record fails the check."""
    backbone = SMALL_SPECS['conv2former'][0]
    monkeypatch.setattr(backbone, 'measured_channels_last', {'cpu': ('*', ), 'cuda': ('fp32', )})
    with pytest.raises(AssertionError):
        contract.check_defaults_by_measurement(backbone, small('conv2former'),
                                               contract.cuda_records(contract.GPU_DOC), True)


@pytest.mark.parametrize('family', FAMILIES)
def test_unmeasured_defaults_compute_the_official_code(family, monkeypatch):
    same_as_measured = contract.check_unmeasured_defaults_compute_the_official_code(
        SMALL_SPECS[family][0], small(family), monkeypatch)
    # control: with its measured CPU paths a family computes otherwise (HorNet has none)
    assert same_as_measured == family.startswith('hornet')


def test_argument_names():
    from mmmoga.models.factory import backbone_families
    families = [f for f in backbone_families() if f.__module__.startswith('mmmoga.')]
    assert {f.__name__ for f in families} >= {'MogaNet', 'HorNet', 'Conv2Former', 'InceptionNeXt'}
    for backbone in families:
        contract.check_argument_names(backbone)


@pytest.mark.parametrize('family', FAMILIES)
def test_forward_is_the_template(family):
    contract.check_forward_is_the_template(SMALL_SPECS[family][0], SMALL_BACKBONES[family])
