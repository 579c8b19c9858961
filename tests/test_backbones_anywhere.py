"""The backbones anywhere: built, loaded and run with torch and mmengine only (mmcv and the task
libraries blocked by an import hook), by name through ``mmmoga.create_backbone``, with the same
outputs as under the full stack; our norm / drop-path / activation bricks against mmcv's; what
``import mmmoga`` says when task libraries are missing; and the docs example, run as written."""
import json
import os.path as osp
import re

import pytest
import torch
from without_task_libraries import BLOCKED, ROOT, run_python

import mmmoga
from mmmoga import metafiles, task_libraries
from mmmoga.converters import release_to_safetensors
from mmmoga.models import backbones, layers
from mmmoga.models.factory import BACKBONES, create_backbone, list_backbones
from mmmoga.utils.checkpoint import CheckpointError
from numeric_fixtures import randomise

#: the smallest name of each family (HorNet in both mixers)
SMALLEST = ('moganet_xt', 'hornet_t_7x7', 'hornet_t_gf', 'conv2former_n', 'inceptionnext_a')
DOC = osp.join(ROOT, 'docs', 'backbones_anywhere.md')


# ------------------------------------------------------------------- without mmcv and tasks
@pytest.fixture(scope='module')
def releases(tmp_path_factory):
    """For each smallest name: an official-style release (``.pth.tar``, ``module.`` prefixed,
    in a ``state_dict`` wrapper) of randomised weights, its ``.safetensors`` conversion, and the
    outputs the full stack (mmcv importable) computes from it, on one input."""
    tmp = tmp_path_factory.mktemp('releases')
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    reference = {'input': x}
    for name in SMALLEST:
        model = randomise(create_backbone(name), seed=1)
        state = {f'module.{k}': v for k, v in model.state_dict().items()}
        torch.save({'state_dict': state, 'epoch': 299}, tmp / f'{name}.pth.tar')
        report = release_to_safetensors(
            str(tmp / f'{name}.pth.tar'), str(tmp / f'{name}.safetensors'), backbone=name)
        assert report['missing'] == [] and report['tensors'] == len(state)
        with torch.no_grad():
            reference[name] = model(x)
    torch.save(reference, tmp / 'reference.pt')
    return tmp


BLOCKED_CHECK = '''
import json, sys, warnings
warnings.simplefilter('always')
with warnings.catch_warnings(record=True) as caught:
    import torch
    import mmmoga
    import mmmoga.models.backbones
    from mmmoga import create_backbone, list_backbones
    from mmmoga.models import backbones, fuse_for_inference
    from mmmoga.models.factory import BACKBONES
    import mmmoga.devtools.benchmark
    import mmmoga  # again
said = [str(w.message) for w in caught if 'mmmoga' in str(w.message)]
left_out = mmmoga.missing_task_parts()
from mmmoga.task_libraries import MissingTaskLibraryError, require_task_part
from mmmoga.utils import load_config
used = []
try:
    require_task_part('mmmoga.models.necks')
except MissingTaskLibraryError as error:
    used.append(str(error))
try:
    load_config({config!r})
except MissingTaskLibraryError as error:
    used.append(str(error))
try:
    import mmcv  # noqa: F401
    mmcv_importable = True
except ModuleNotFoundError:
    mmcv_importable = False
blocked = sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r})
reference = torch.load('reference.pt')
x = reference['input']
results = {{}}
for name in {names!r}:
    class_name, arguments = BACKBONES[name]
    built = {{
        'create_backbone(.safetensors)': create_backbone(name, pretrained=name + '.safetensors'),
        'create_backbone(.pth.tar release)': create_backbone(name, pretrained=name + '.pth.tar'),
        'class + init_cfg(.safetensors)': getattr(backbones, class_name)(
            **arguments, init_cfg=dict(type='Pretrained', checkpoint=name + '.safetensors')),
    }}
    for how, model in built.items():
        model.init_weights()
        model.eval()
        with torch.no_grad():
            outs = model(x)
        results[f'{{name}} {{how}}'] = all(
            torch.equal(a, b) for a, b in zip(outs, reference[name])) and len(outs) == 4
    fused_model = built['create_backbone(.safetensors)']
    fuse_for_inference(fused_model)
    with torch.no_grad():
        fused = fused_model(x)
    results[f'{{name}} fused'] = all(
        torch.allclose(a, b, rtol=1e-4, atol=1e-4) for a, b in zip(fused, reference[name]))
bench = mmmoga.devtools.benchmark.build_benchmark_model('moganet_xt')
results['benchmark model runs'] = len(bench(torch.rand(1, 3, 64, 64))) == 4
print(json.dumps(dict(mmcv_importable=mmcv_importable, blocked=blocked, said=said,
                      left_out=left_out, used=used, results=results, names=list_backbones())))
'''


def test_every_family_builds_loads_and_matches_without_mmcv_or_task_libraries(releases):
    """In a process where ``import mmcv`` (and the task libraries) raise, every family builds
    from create_backbone and from its class, loads the converted .safetensors release (and the
    .pth.tar release, weights-only), and gives exactly the outputs of the full stack."""
    config = osp.join(ROOT, 'configs', 'mask_rcnn_moganet_s.py')
    out = run_python(
        BLOCKED_CHECK.format(blocked=BLOCKED, names=SMALLEST, config=config),
        cwd=releases).splitlines()[-1]
    report = json.loads(out)
    assert report['mmcv_importable'] is False  # cannot pass where mmcv can be imported
    assert report['blocked'] == []
    assert report['results'] and all(report['results'].values()), report['results']
    assert len(report['results']) == 4 * len(SMALLEST) + 1
    assert report['names'] == list_backbones()
    # the import says nothing, though it left parts out; they are listed on request
    assert report['said'] == []
    left_out = json.dumps(report['left_out'])
    for needed in ('detection: the HorFPN neck', 'mmdet (or the fork onedl-mmdetection)',
                   'segmentation', 'mmsegmentation (or the fork onedl-mmsegmentation)',
                   'classification', 'mmpretrain (or the fork onedl-mmpretrain)', 'pose estimation',
                   'mmpose', 'mmmoga[det]', 'mmmoga[all]'):
        assert needed in left_out, (needed, left_out)
    # where a part is used, the error names it and its pip extra
    assert report['used'] == [
        'the HorFPN neck (detection), built on mmdet (or the fork onedl-mmdetection), not '
        'installed (pip install "mmmoga[det]" installs the upstream one). '
        'mmmoga.missing_task_parts() lists every part left out.',
        # (the blocker hides the module, not the files: the mmdet:: bases are read)
        f'{config} runs in the mmdet scope, which needs mmdet (or the fork onedl-mmdetection), '
        'not installed (pip install "mmmoga[det]" installs the upstream one).'
    ]


def test_control_the_same_interpreter_imports_mmcv_without_the_hook(tmp_path):
    out = run_python('import mmcv, mmdet; print("importable")', cwd=tmp_path, block=False)
    assert out.strip().endswith('importable')


def test_full_stack_registers_everything_and_says_nothing(tmp_path):
    out = run_python(
        '''
        import json, warnings
        warnings.simplefilter('always')
        with warnings.catch_warnings(record=True) as caught:
            import mmmoga
        from mmengine.registry import MODELS, TRANSFORMS
        names = ['MogaNet', 'HorFPN', 'HorUPerHead', 'OfficialImageClassifier']
        print(json.dumps(dict(
            warned=[str(w.message) for w in caught if 'mmmoga:' in str(w.message)],
            models=[MODELS.get(n) is not None for n in names],
            transform=TRANSFORMS.get('AlignResize') is not None)))
        ''',
        cwd=tmp_path,
        block=False)
    report = json.loads(out.splitlines()[-1])
    assert report == dict(warned=[], models=[True] * 4, transform=True)


def test_a_broken_task_library_still_raises(tmp_path, monkeypatch):
    """Only a missing task library is left out; any other import error propagates."""
    package = tmp_path / 'fake_part'
    package.mkdir()
    (package / '__init__.py').write_text('import not_installed_dependency_of_a_library\n')
    (tmp_path / 'fake_missing.py').write_text('import mmdet.no_such_module\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match='not_installed_dependency_of_a_library'):
        task_libraries.import_task_part('fake_part')
    monkeypatch.setattr(task_libraries, '_missing', {})
    monkeypatch.setitem(task_libraries.TASK_PARTS, 'fake_missing',
                        task_libraries.TaskPart('a fake neck', 'detection', 'det'))
    assert task_libraries.import_task_part('fake_missing') is None  # mmdet is a task library
    assert task_libraries.missing_task_parts()['detection: a fake neck'].startswith('mmdet (or')


# ------------------------------------------------------------------------ bricks against mmcv
NORM_CFGS = [
    dict(type='BN'),
    dict(type='BN', requires_grad=False, eps=1e-3, momentum=0.03),
    dict(type='SyncBN'),
    dict(type='GN', num_groups=4),
    dict(type='LN', eps=1e-6),
    dict(type='IN', affine=True),
    dict(type='BN1d'),
]


@pytest.mark.parametrize('cfg', NORM_CFGS, ids=lambda c: str(c))
def test_build_norm_layer_is_mmcvs(cfg):
    from mmcv.cnn import build_norm_layer as mmcv_build
    for postfix in ('', 1, '_out'):
        name, ours = layers.build_norm_layer(cfg, 16, postfix)
        mmcv_name, theirs = mmcv_build(cfg, 16, postfix)
        assert (name, type(ours)) == (mmcv_name, type(theirs))
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [p.requires_grad for p in ours.parameters()] == \
            [p.requires_grad for p in theirs.parameters()]


def test_build_norm_layer_errors_and_registry_fallback():
    with pytest.raises(KeyError, match="Unknown norm type 'BatchNorm'"):
        layers.build_norm_layer(dict(type='BatchNorm'), 8)
    with pytest.raises(KeyError, match='GN needs num_groups'):
        layers.build_norm_layer(dict(type='GN'), 8)
    from mmengine.registry import MODELS

    class ScaledBatchNorm(torch.nn.BatchNorm2d):
        pass

    MODELS.register_module('ScaledBNForTest', module=ScaledBatchNorm)
    try:  # a type only the registry knows
        name, layer = layers.build_norm_layer(dict(type='ScaledBNForTest'), 8, 2)
    finally:
        MODELS._module_dict.pop('ScaledBNForTest')
    assert (name, type(layer)) == ('bn2', ScaledBatchNorm)


@pytest.mark.parametrize(
    'cfg', [
        dict(type='ReLU', inplace=False),
        dict(type='GELU'),
        dict(type='SiLU'),
        dict(type='LeakyReLU', negative_slope=0.2),
        dict(type='HSwish')
    ],
    ids=lambda c: c['type'])
def test_build_activation_layer_is_mmcvs(cfg):
    from mmcv.cnn import build_activation_layer as mmcv_build
    ours, theirs = layers.build_activation_layer(cfg), mmcv_build(cfg)
    assert type(ours) is type(theirs) and repr(ours) == repr(theirs)


def test_drop_path_draws_the_same_masks_as_mmcv():
    from mmcv.cnn.bricks import DropPath as MMCVDropPath
    x = torch.randn(64, 4, 3, 3)
    ours, theirs = layers.DropPath(0.3), MMCVDropPath(0.3)
    torch.manual_seed(3)
    a = ours(x)
    torch.manual_seed(3)
    b = theirs(x)
    assert torch.equal(a, b)
    dropped = (a.flatten(1) == 0).all(1)
    assert 0 < dropped.sum() < 64  # control: some samples dropped, the kept ones scaled
    assert torch.allclose(a[~dropped], x[~dropped] / 0.7)
    assert torch.equal(ours.eval()(x), x) and torch.equal(layers.DropPath(0.)(x), x)
    assert list(ours.state_dict()) == []


# -------------------------------------------------------------------------- create_backbone
def test_names_are_the_metafiles_imagenet_entries_with_weights():
    entries = {
        e['Name'][len('imagenet_'):]
        for e in metafiles.load_entries(ROOT)
        if e['Name'].startswith('imagenet_') and not e['Name'].endswith('_toy')
    }
    assert set(BACKBONES) == entries
    assert list_backbones() == sorted(entries) == mmmoga.list_backbones()
    assert list_backbones('hornet_*_gf') == ['hornet_b_gf', 'hornet_s_gf', 'hornet_t_gf']
    # conv2former's weights are on Baidu Netdisk only: not downloadable by URL
    assert not any(n.startswith('conv2former') for n in list_backbones(pretrained=True))
    assert 'moganet_s' in list_backbones(pretrained=True)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_every_name_builds_the_variant_of_its_config(name):
    class_name, arguments = BACKBONES[name]
    with torch.device('meta'):
        model = create_backbone(name, out_indices=(1, 2, 3))
    assert type(model) is getattr(backbones, class_name)
    assert model.arch_settings == type(model).parse_arch(arguments['arch'])
    assert [i['stage'] for i in model.feature_info] == [1, 2, 3]


@pytest.mark.parametrize('name', SMALLEST)
def test_feature_info_describes_what_forward_returns(name):
    for out_indices in ((0, 1, 2, 3), (1, 2, 3), (3, ), (0, 2)):
        model = create_backbone(name, out_indices=out_indices).eval()
        with torch.no_grad():
            outs = model(torch.rand(1, 3, 96, 128))
        info = model.feature_info
        assert len(outs) == len(info) == len(out_indices)
        assert [o.shape[1] for o in outs] == info.channels()
        assert [(96 // o.shape[2], 128 // o.shape[3]) for o in outs] == \
            [(r, r) for r in info.reduction()]
    assert isinstance(model, torch.nn.Module) and isinstance(outs, tuple)


def test_feature_info_of_pooled_classification_outputs():
    for model, channels in ((backbones.HorNet('tiny', with_cls_head=True, out_indices=(3, )),
                             512), (backbones.Conv2Former('nano', with_cls_head=True), 1280),
                            (backbones.InceptionNeXt('atto', with_cls_head=True), 960)):
        with torch.no_grad():
            pooled = model.eval()(torch.rand(1, 3, 64, 64))[-1]
        assert pooled.shape == (1, channels)
        assert model.feature_info[-1] == dict(num_chs=channels, reduction=None, stage=3)


def test_create_backbone_takes_class_arguments_and_refuses_the_names_own():
    model = create_backbone('moganet_xt', out_indices=3, drop_path_rate=0.1, frozen_stages=0)
    assert model.out_indices == (3, ) and not model.patch_embed1.projection[0].weight.requires_grad
    with pytest.raises(TypeError, match="sets arch itself; pick the name"):
        create_backbone('moganet_xt', arch='small')
    with pytest.raises(ValueError, match="Did you mean moganet_s"):
        create_backbone('moganet_sm')
    with pytest.raises(TypeError, match='pretrained must be False, True'):
        create_backbone('moganet_xt', pretrained=1)


def test_create_backbone_gives_the_official_init():
    """pretrained=False runs the class's own init (Conv2Former: trunc-normal std .02, as its
    default init_cfg says), not PyTorch's default."""
    torch.manual_seed(0)
    model = create_backbone('conv2former_n')
    weight = model.stages[2][0].mlp.fc1.weight
    assert abs(weight.std().item() - 0.02) < 0.002
    control = backbones.Conv2Former('nano').stages[2][0].mlp.fc1.weight  # no init_weights()
    assert abs(control.std().item() - 0.02) > 0.005


def test_pretrained_true_on_baidu_only_weights_says_where_to_get_them():
    with pytest.raises(CheckpointError) as err:
        create_backbone('conv2former_t', pretrained=True)
    text = str(err.value)
    assert 'https://pan.baidu.com/s/1Rfsi5p5usr3UE46jigtlcg' in text and 'gwq4' in text
    assert "pretrained='/path/to/conv2former_t_1k.pth'" in text


# -------------------------------------------------------------------------------- the docs
def doc_code_blocks():
    with open(DOC, encoding='utf-8') as f:
        return re.findall(r'```python\n(.*?)```', f.read(), re.S)


def test_docs_example_runs_as_written(tmp_path, monkeypatch):
    blocks = doc_code_blocks()
    assert blocks, f'no python block in {DOC}'
    monkeypatch.chdir(tmp_path)
    namespace = {'__name__': '__docs__'}
    for block in blocks:
        exec(compile(block, DOC, 'exec'), namespace)
    assert isinstance(namespace.get('model'), torch.nn.Module)


def test_readme_links_the_docs_page():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        assert '(docs/backbones_anywhere.md)' in f.read()
    with open(osp.join(ROOT, 'docs', 'README.md'), encoding='utf-8') as f:
        assert '(backbones_anywhere.md)' in f.read()


def test_readme_create_backbone_example_runs(tmp_path, monkeypatch, capsys):
    """The README's plain-PyTorch example, as written, with its ``pretrained=True`` download
    served from a local official-style release (offline); the printed shapes and feature_info are
    the ones its comments give."""
    from mmmoga.models import factory
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        (block, ) = [
            b for b in re.findall(r'```python\n(.*?)```', f.read(), re.S) if 'create_backbone' in b
        ]
    release = tmp_path / 'moganet_small_sz224_8xbs128_ep300.pth.tar'
    model = randomise(create_backbone('moganet_s'), seed=2)
    torch.save({'state_dict': model.state_dict()}, release)
    monkeypatch.setattr(factory, 'backbone_weights', lambda name: (str(release), None))
    namespace = {'__name__': '__readme__'}
    exec(compile(block, 'README.md', 'exec'), namespace)
    loaded = namespace['model'].state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items())  # the release
    printed = capsys.readouterr().out.splitlines()[-2:]
    comments = [line.split('# ')[-1] for line in block.splitlines() if line.startswith('print(')]
    assert printed == comments


def test_a_left_out_part_is_named_where_a_config_uses_it(monkeypatch):
    monkeypatch.setattr(task_libraries, '_missing', {'mmmoga.models.necks': 'mmdet'})
    cfg = dict(default_scope='mmmoga', model=dict(type='MaskRCNN', neck=dict(type='mmmoga.HorFPN')))
    with pytest.raises(task_libraries.MissingTaskLibraryError) as error:
        task_libraries.check_config(cfg, 'my.py')
    assert str(error.value) == (
        'my.py names HorFPN: the HorFPN neck (detection), built on mmdet (or the fork '
        'onedl-mmdetection), not installed (pip install "mmmoga[det]" installs the upstream '
        'one). mmmoga.missing_task_parts() lists every part left out.')
    task_libraries.check_config(dict(model=dict(type='MogaNet')), 'my.py')  # control: no part
    monkeypatch.setattr(task_libraries, '_installed', lambda module: module != 'mmpose')
    with pytest.raises(
            task_libraries.MissingTaskLibraryError,
            match=re.escape(
                'pose.py runs in the mmpose scope, which needs mmpose, not installed (pip install '
                '"mmmoga[pose]").')):
        task_libraries.check_config(dict(default_scope='mmpose'), 'pose.py')
    task_libraries.check_config(dict(default_scope='mmdet'), 'det.py')  # control: installed


def test_a_missing_base_config_library_is_named_with_its_extra():
    error = task_libraries.base_config_error(
        ModuleNotFoundError('mmsegmentation is not installed, please install mmsegmentation '
                            'manually'), 'my.py')
    assert str(error) == (
        'my.py inherits mmseg:: base configs, which need mmsegmentation (or the fork '
        'onedl-mmsegmentation), not installed (pip install "mmmoga[seg]" installs the upstream '
        'one).')
    fork = ModuleNotFoundError('onedl-mmdetection is not installed, please install it manually')
    assert 'inherits mmdet:: base configs' in str(task_libraries.base_config_error(fork, 'x'))
    assert task_libraries.base_config_error(ModuleNotFoundError("No module named 'yaml'"),
                                            'x') is None  # control: another error


def test_each_task_part_names_what_it_registers():
    """The names :func:`task_libraries.check_config` looks for are what the parts register;
    everything else mmmoga registers is a backbone, which needs no task library."""
    from mmmoga import registry
    registered = set()
    for scoped in (registry.MODELS, registry.HOOKS, registry.TRANSFORMS, registry.MODEL_WRAPPERS,
                   registry.OPTIM_WRAPPER_CONSTRUCTORS):
        registered.update(scoped.module_dict)
    declared = {name for part in task_libraries.TASK_PARTS.values() for name in part.names}
    assert declared <= registered
    assert registered - declared == {'MogaNet', 'HorNet', 'Conv2Former', 'InceptionNeXt'}
