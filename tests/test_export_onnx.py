"""ONNX export (``mmmoga.deployment``, ``tools/deployment/export_onnx.py``): every family's backbone
(small variants, HorNet GF included) and an ImageNet classifier, checked with onnxruntime against
PyTorch at two input sizes of one exported graph (dynamic height and width)."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from small_models import SMALL_BACKBONES

from mmmoga.deployment import check_onnx, export_onnx, fft_as_matmul
from mmmoga.deployment.onnx_export import _Outputs
from mmmoga.models import MogaNet
from mmmoga.models.layers import GlobalLocalFilter
from mmmoga.models.layers.dft import global_filter_dft

pytest.importorskip('onnxruntime')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'deployment', 'export_onnx.py')
SMALL = SMALL_BACKBONES


@pytest.mark.parametrize('size', [(14, 14), (14, 8), (20, 27), (9, 8), (33, 19)])
def test_global_filter_as_dft_matrices_equals_the_fft(size):
    torch.manual_seed(0)
    module = GlobalLocalFilter(16, 14, 8)
    x = torch.randn(2, 8, *size)
    ref = module._global_filter(x)
    out = global_filter_dft(x, module.complex_weight)
    assert ((out - ref).abs().max() / ref.abs().max()).item() < 1e-5
    # control: the filter matters (the check would notice a wrong transform)
    assert ((x - ref).abs().max() / ref.abs().max()).item() > 0.1


@pytest.mark.parametrize('family', list(SMALL))
def test_backbone_exports_with_dynamic_height_and_width(family, tmp_path):
    torch.manual_seed(0)
    module = _Outputs(SMALL[family]().eval(), classifier=False)
    path = str(tmp_path / f'{family}.onnx')
    assert export_onnx(module, path, (64, 64)) == ['output0', 'output1', 'output2', 'output3']
    results = check_onnx(module, path, [(64, 64), (96, 128)], batch=2)
    assert [r['size'] for r in results] == [(64, 64), (96, 128)]
    assert results[1]['outputs'][0] == (2, module.model.embed_dims[0], 24, 32)
    assert all(r['relative'] < 1e-4 for r in results), results
    # PyTorch keeps its FFT after the export
    assert not any(m.fft_as_matmul for m in module.modules() if isinstance(m, GlobalLocalFilter))


def test_global_filter_needs_the_export_switch(tmp_path):
    module = _Outputs(SMALL['hornet-gf']().eval(), classifier=False)
    with pytest.raises(Exception, match='fft|FFT'):  # control: torch.fft has no ONNX operator
        torch.onnx.export(
            module, (torch.zeros(1, 3, 64, 64), ),
            str(tmp_path / 'gf.onnx'),
            dynamo=False,
            opset_version=17)
    with fft_as_matmul(module) as switched:
        assert switched == 3  # stage 3 (two blocks) and stage 4


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *args],
                          capture_output=True,
                          text=True,
                          cwd=ROOT,
                          timeout=600)


def test_command_line_exports_an_imagenet_classifier_and_a_detector_backbone(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    # a checkpoint of the toy ImageNet classifier (whole model, as training saves it)
    config = osp.join(ROOT, 'configs', 'imagenet_moganet_xt_toy.py')
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'classifier.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    out = tmp_path / 'classifier.onnx'
    proc = run_tool(config, str(checkpoint), '--out', str(out), '--shape', '64', '64',
                    '--check-shapes', '64', '64', '96', '128')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'classifier, outputs logits' in proc.stdout
    assert proc.stdout.count('-> OK') == 2 and 'at 96x128' in proc.stdout

    # the backbone of a detection config, from a backbone-only file (an official release layout)
    config = osp.join(ROOT, 'configs', 'mask_rcnn_moganet_xt_toy.py')
    backbone = tmp_path / 'backbone.pth'
    torch.save(dict(state_dict=MogaNet('xtiny').state_dict()), backbone)
    proc = run_tool(config, str(backbone), '--out', str(tmp_path / 'det.onnx'), '--shape', '64',
                    '64', '--check-shapes', '64', '64', '128', '96', '--fuse')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'backbone, outputs output0, output1, output2, output3' in proc.stdout
    assert proc.stdout.count('-> OK') == 2

    # bad input names the problem
    proc = run_tool(config, 'none', '--part', 'classifier', '--out', str(tmp_path / 'x.onnx'))
    assert proc.returncode != 0 and 'export its backbone' in proc.stderr
    proc = run_tool(config, 'none', '--check-shapes', '64', '64', '96')
    assert proc.returncode == 2 and 'H W pairs' in proc.stderr
