"""Bad input gets an error that names the problem: a matrix over backbones, checkpoints, configs,
tools and data. Each case asserts the error type and that the message names what is wrong."""
import json
import os
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config
from small_models import ARCHS
from tool_scripts import cfg_options, run_tool, toy_data_options

from mmmoga.datasets import make_coco_instances
from mmmoga.models import Conv2Former, HorNet, InceptionNeXt, MogaNet
from mmmoga.utils import (CheckpointNotFoundError, CorruptCheckpointError, DatasetError,
                          UntrustedCheckpointError, check_dataset_paths, load_checkpoint_file)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_toy.py')

# one tiny custom arch per family (fast to build)
SMALL = {
    MogaNet: ARCHS['moganet']['tiny'],
    HorNet: ARCHS['hornet']['tiny'],
    Conv2Former: ARCHS['conv2former']['tiny'],
    InceptionNeXt: ARCHS['inceptionnext']['tiny'],
}
FAMILIES = list(SMALL)


def short_arch(family):
    arch = dict(SMALL[family])
    arch['depths'] = [1, 1, 1]
    return arch


def missing_key_arch(family):
    arch = dict(SMALL[family])
    arch.pop('depths')
    return arch


def negative_arch(family):
    arch = dict(SMALL[family])
    arch['embed_dims'] = [8, 16, 24, -32]
    return arch


# (id, build or call, exception, regex the message must match)
BACKBONE_CASES = []
for fam in FAMILIES:
    name = fam.__name__
    BACKBONE_CASES += [
        (f'{name}-unknown-arch', lambda f=fam: f('gigantic'), ValueError,
         rf"Unknown {name} arch 'gigantic'\. Valid names: \["),
        (f'{name}-arch-type', lambda f=fam: f(42), TypeError, r'arch must be a str or a dict'),
        (f'{name}-arch-missing-key', lambda f=fam: f(missing_key_arch(f)), ValueError,
         r'needs exactly the keys .*depths'),
        (f'{name}-arch-stage-count', lambda f=fam: f(short_arch(f)), ValueError,
         r"needs 4 values, got lengths .*'depths': 3"),
        (f'{name}-arch-negative', lambda f=fam: f(negative_arch(f)), ValueError,
         r'embed_dims of a custom .* must be positive'),
        (f'{name}-out-indices-range', lambda f=fam: f(SMALL[f], out_indices=(1, 4)), ValueError,
         r'out_indices must be stage indices in \[0, 3\].*\(1, 4\)'),
        (f'{name}-out-indices-type', lambda f=fam: f(SMALL[f], out_indices='3'), ValueError,
         r"out_indices must be a stage index .*got '3'"),
        (f'{name}-out-indices-empty', lambda f=fam: f(SMALL[f], out_indices=()), ValueError,
         r'non-empty sequence'),
        (f'{name}-frozen-stages', lambda f=fam: f(SMALL[f], frozen_stages=4), ValueError,
         r'frozen_stages must be in \[-1, 3\].*got 4'),
        (f'{name}-drop-path', lambda f=fam: f(SMALL[f], drop_path_rate=1.5), ValueError,
         r'drop_path_rate must be a number in \[0, 1\).*1\.5'),
        (f'{name}-input-channels', lambda f=fam: f(SMALL[f])(torch.zeros(1, 4, 64, 64)), ValueError,
         r'built for 3 input channels .*got an input with 4 channels'),
        (f'{name}-input-dims', lambda f=fam: f(SMALL[f])(torch.zeros(3, 64, 64)), ValueError,
         r'expects a batch of images shaped \(N, C, H, W\), got \(3, 64, 64\).*x\[None\]'),
        (f'{name}-pretrained-without-checkpoint',
         lambda f=fam: f(SMALL[f], init_cfg=dict(type='Pretrained')).init_weights(), ValueError,
         r"needs checkpoint=<path or URL>"),
        (f'{name}-unknown-option', lambda f=fam: f(SMALL[f], out_indice=(3, )), TypeError,
         r"unexpected argument 'out_indice'; did you mean 'out_indices'\?"),
        (f'{name}-decay-type', lambda f=fam: f(SMALL[f]).get_layer_id('x.weight', 6, 'block_wise'),
         ValueError, r"decay_type must be 'layer_wise' or 'stage_wise', got 'block_wise'"),
    ]
    if fam.classification_form is not None:
        BACKBONE_CASES.append(
            (f'{name}-classification-form-without-the-last-stage',
             lambda f=fam: f(SMALL[f], **dict(f.classification_form, out_indices=(0, 1))),
             ValueError, 'must include 3'))
BACKBONE_CASES += [
    ('HorNet-unknown-mixer', lambda: HorNet(SMALL[HorNet], mixer='7x7'), ValueError,
     r"Unknown HorNet mixer '7x7'; valid choices: \['dw', 'gf'\]"),
    ('HorNet-gf-sizes', lambda: HorNet(SMALL[HorNet], mixer='gf', gf_sizes=(
        (14, 8), )), ValueError, r'gf_sizes needs two \(h, w\) pairs'),
    ('Conv2Former-even-kernel', lambda: Conv2Former(SMALL[Conv2Former], kernel_size=10), ValueError,
     r'kernel_size must be odd.*got 10'),
]


@pytest.mark.parametrize(
    'build,error,message', [c[1:] for c in BACKBONE_CASES], ids=[c[0] for c in BACKBONE_CASES])
def test_backbone_arguments(build, error, message):
    with pytest.raises(error, match=message):
        build()


# ------------------------------------------------------------------------------ checkpoints


def write(path, content: bytes):
    with open(path, 'wb') as f:
        f.write(content)
    return str(path)


def checkpoint_case(kind, tmp_path):
    """(path, backbone) for a bad checkpoint of ``kind``."""
    model = MogaNet(SMALL[MogaNet])
    good = str(tmp_path / 'good.pth')
    torch.save({'state_dict': model.state_dict()}, good)
    if kind == 'missing':
        return str(tmp_path / 'nope.pth'), model
    if kind == 'empty':
        return write(tmp_path / 'empty.pth', b''), model
    if kind == 'truncated':
        return write(tmp_path / 'truncated.pth', open(good, 'rb').read()[:3000]), model
    if kind == 'random-bytes':
        return write(tmp_path / 'random.pth', bytes(range(7, 256)) * 20), model
    if kind == 'html-page':
        return write(tmp_path / 'page.pth', b'<!DOCTYPE html><html>Sign in</html>'), model
    if kind == 'other-arch':  # MogaNet-S-like widths into the small model
        other = MogaNet(dict(SMALL[MogaNet], embed_dims=[16, 32, 48, 64]))
        path = str(tmp_path / 'other.pth')
        torch.save({'state_dict': other.state_dict()}, path)
        return path, model
    if kind in ('other-family', 'other-family-overlap'):
        family = InceptionNeXt if kind == 'other-family' else HorNet
        path = str(tmp_path / f'{family.__name__}.pth')
        torch.save({'model': family(SMALL[family]).state_dict()}, path)
        return path, model
    if kind == 'not-a-dict':
        path = str(tmp_path / 'tensor.pth')
        torch.save(torch.zeros(3), path)
        return path, model
    if kind == 'untrusted-class':
        path = str(tmp_path / 'untrusted.pth')
        torch.save({'state_dict': model.state_dict(), 'meta': uuid.UUID(int=1)}, path)
        return path, model
    raise KeyError(kind)


CHECKPOINT_CASES = [
    ('missing', CheckpointNotFoundError, r'Checkpoint file not found: .*nope\.pth.*--cfg-options '
     r'model\.backbone\.init_cfg\.checkpoint='),
    ('empty', CorruptCheckpointError, r'empty\.pth is an empty file \(0 bytes\)'),
    ('truncated', CorruptCheckpointError, r'truncated\.pth is truncated or corrupt \(3000 bytes'),
    ('random-bytes', CorruptCheckpointError, r'random\.pth is truncated or corrupt'),
    ('html-page', CorruptCheckpointError, r'page\.pth is an HTML page, not a checkpoint'),
    ('other-arch', ValueError, r'other\.pth does not fit this MogaNet: 178 tensors have other '
     r'shapes: patch_embed1\.projection\.0\.weight: checkpoint \(8, 3, 3, 3\) vs model '
     r'\(4, 3, 3, 3\);.*\(and 168 more\)'),
    ('other-family', ValueError, r'No key of .*InceptionNeXt\.pth belongs to this MogaNet '
     r'\(checkpoint keys look like \[.stem\.0\.weight.*converts'),
    ('other-family-overlap', ValueError, r'HorNet\.pth does not fit this MogaNet: 6 tensors have '
     r'other shapes: norm1\.weight: checkpoint \(16,\) vs model \(8,\).*\(6 of the '
     r"checkpoint's \d+ keys exist in the model\)"),
    ('not-a-dict', TypeError, r'must hold a dict of tensors.*got Tensor'),
    ('untrusted-class', UntrustedCheckpointError, r'untrusted\.pth: it pickles uuid\.UUID.*'
     r'unsafe_unpickle=True'),
]


@pytest.mark.parametrize(
    'kind,error,message', CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_bad_pretrained_checkpoints(tmp_path, kind, error, message):
    path, model = checkpoint_case(kind, tmp_path)
    model.init_cfg = dict(type='Pretrained', checkpoint=path)
    with pytest.raises(error, match=message):
        model.init_weights()


def test_baidu_only_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
            FileNotFoundError,
            match=r'share page with no direct download: https://pan\.baidu\.com/s/'
            r'1Rfsi5p5usr3UE46jigtlcg \(extraction code gwq4\)'):
        load_checkpoint_file('pretrained/conv2former_t_1k.pth')


# ------------------------------------------------------------------------------ data


def coco_cfg(root, ann='annotations/instances_train.json', img='train/'):
    return Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='CocoDataset',
                    data_root=str(root) + '/',
                    ann_file=ann,
                    data_prefix=dict(img=img)))))


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_inputs_toy')
    make_coco_instances(str(root), num_train=2, num_val=2)
    return str(root)


def bad_dataset(kind, tmp_path):
    """A dataset config whose annotation file or folder has the problem ``kind``."""
    (tmp_path / 'annotations').mkdir(exist_ok=True)
    (tmp_path / 'train').mkdir(exist_ok=True)
    (tmp_path / 'train' / '000001.jpg').write_bytes(b'x')
    ann = tmp_path / 'annotations' / 'instances_train.json'
    good = dict(
        images=[dict(id=1, file_name='000001.jpg', width=8, height=8)],
        annotations=[],
        categories=[dict(id=1, name='square')])
    content = {
        'empty-json': '',
        'not-json': 'images,annotations\n1,2\n',
        'truncated-json': json.dumps(good)[:40],
        'invalid-json': '{"images": [1, 2,, 3], "annotations": [], "categories": []}',
        'not-coco': json.dumps(dict(data=[1, 2, 3])),
        'coco-list': json.dumps([1, 2, 3]),
        'no-images': json.dumps(dict(good, images=[])),
        'no-categories': json.dumps(dict(good, categories=[])),
    }.get(kind)
    if content is not None:
        ann.write_text(content)
        return coco_cfg(tmp_path)
    ann.write_text(json.dumps(good))
    if kind == 'ann-is-folder':
        (tmp_path / 'annotations' / 'folder.json').mkdir()
        return coco_cfg(tmp_path, ann='annotations/folder.json')
    if kind == 'empty-image-folder':
        (tmp_path / 'empty').mkdir()
        return coco_cfg(tmp_path, img='empty/')
    if kind == 'missing-root':
        return coco_cfg(tmp_path / 'nowhere')
    if kind == 'imagenet-list':
        (tmp_path / 'meta').mkdir()
        (tmp_path / 'meta' / 'train.txt').write_text('n01/img1.JPEG 0\nn01/img2.JPEG zero\n')
        return Config(
            dict(
                train_dataloader=dict(
                    dataset=dict(
                        type='ImageNet',
                        data_root=str(tmp_path),
                        ann_file='meta/train.txt',
                        data_prefix='train'))))
    raise KeyError(kind)


DATA_CASES = [
    ('missing-root', FileNotFoundError, r'(?s)missing:\n  train_dataloader: .*nowhere.*COCO 2017: '
     r'download from https://cocodataset\.org'),
    ('empty-json', DatasetError, r'instances_train\.json is empty \(0 bytes\)'),
    ('not-json', DatasetError, r'instances_train\.json is not JSON'),
    ('truncated-json', DatasetError, r'instances_train\.json is truncated'),
    ('invalid-json', DatasetError, r'instances_train\.json is not valid JSON \(Expecting value'),
    ('not-coco', DatasetError, r"is not a COCO annotation file: it has no \['images', "
     r"'annotations', 'categories'\]"),
    ('coco-list', DatasetError, r'is not a COCO annotation file \(a JSON list'),
    ('no-images', DatasetError, r'lists no images'),
    ('no-categories', DatasetError, r'lists no categories'),
    ('ann-is-folder', DatasetError, r'folder\.json is a folder, but ann_file must be a file'),
    ('empty-image-folder', DatasetError, r'empty/? is an empty folder'),
    ('imagenet-list', DatasetError, r'train\.txt line 2 is not "<image path> <integer label>"'),
]


@pytest.mark.parametrize('kind,error,message', DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_datasets(tmp_path, kind, error, message):
    cfg = bad_dataset(kind, tmp_path)
    with pytest.raises(error, match=message):
        check_dataset_paths(cfg, ['train_dataloader'])


def test_good_toy_dataset_passes_the_checks(toy_data):
    check_dataset_paths(coco_cfg(toy_data), ['train_dataloader'])  # the control: no error


# ------------------------------------------------------------------------------ tools


def data_options(root):
    return ['--cfg-options', *cfg_options(toy_data_options(root, coco=False))]


def tool_case(kind, tmp_path, toy_data):
    """(script, argv) of a command line with the problem ``kind``."""
    image = osp.join(toy_data, 'val', '000001.jpg')
    checkpoint = str(tmp_path / 'model.pth')
    torch.save({'state_dict': {}}, checkpoint)
    if kind == 'train-missing-config':
        return 'tools/train.py', [str(tmp_path / 'nope.py')]
    if kind == 'test-missing-config':
        return 'tools/test.py', [str(tmp_path / 'nope.py'), checkpoint]
    if kind == 'train-syntax-error':
        (tmp_path / 'broken.py').write_text("model = dict(type='MaskRCNN'\n")
        return 'tools/train.py', [str(tmp_path / 'broken.py')]
    if kind == 'train-missing-resume':
        return 'tools/train.py', [
            TOY_CONFIG, '--resume',
            str(tmp_path / 'epoch_9.pth'), *data_options(toy_data)
        ]
    if kind == 'train-missing-data':
        return 'tools/train.py', [TOY_CONFIG, *data_options(tmp_path / 'no_data')]
    if kind == 'train-malformed-annotations':
        root = tmp_path / 'data'
        os.makedirs(root / 'annotations')
        for split in ('train', 'val'):
            os.symlink(osp.join(toy_data, split), root / split)
            (root / 'annotations' / f'instances_{split}.json').write_text('{"images": [')
        return 'tools/train.py', [TOY_CONFIG, *data_options(root)]
    if kind == 'train-unsafe-without-file':
        return 'tools/train.py', [
            TOY_CONFIG, '--resume', '--unsafe-unpickle', *data_options(toy_data)
        ]
    if kind == 'train-auto-scale-lr':
        (tmp_path / 'no_scale.py').write_text(
            f"_base_ = ['{TOY_CONFIG}']\nauto_scale_lr = dict(_delete_=True, enable=False)\n")
        return 'tools/train.py', [
            str(tmp_path / 'no_scale.py'), '--auto-scale-lr', *data_options(toy_data)
        ]
    if kind == 'test-missing-checkpoint':
        return 'tools/test.py', [
            TOY_CONFIG, str(tmp_path / 'epoch_12.pth'), *data_options(toy_data)
        ]
    if kind == 'demo-not-an-image':
        (tmp_path / 'notes.jpg').write_text('not an image')
        return 'tools/image_demo.py', [str(tmp_path / 'notes.jpg'), TOY_CONFIG, checkpoint]
    if kind == 'demo-empty-image':
        (tmp_path / 'empty.png').write_bytes(b'')
        return 'tools/image_demo.py', [str(tmp_path / 'empty.png'), TOY_CONFIG, checkpoint]
    if kind == 'demo-unsupported-scope':
        (tmp_path / 'cls.py').write_text("default_scope = 'mmpretrain'\n")
        return 'tools/image_demo.py', [image, str(tmp_path / 'cls.py'), checkpoint]
    if kind == 'converter-missing-source':
        return 'tools/model_converters/hornet_mmpretrain_to_official.py', [
            str(tmp_path / 'nope.pth'), str(tmp_path / 'out.pth')
        ]
    if kind == 'converter-unknown-keys':
        torch.save({'state_dict': {'backbone.stages.0.0.foo.weight': torch.zeros(1)}}, checkpoint)
        return 'tools/model_converters/hornet_mmpretrain_to_official.py', [
            checkpoint, str(tmp_path / 'out.pth')
        ]
    if kind == 'extract-no-backbone':
        return 'tools/model_converters/extract_backbone.py', [checkpoint, str(tmp_path / 'o.pth')]
    raise KeyError(kind)


TOOL_CASES = [
    ('train-missing-config', r'Config file not found: .*nope\.py'),
    ('test-missing-config', r'Config file not found: .*nope\.py'),
    ('train-syntax-error', r"broken\.py is not valid Python: '\(' was never closed \(line 1"),
    ('train-missing-resume', r'--resume checkpoint not found: .*epoch_9\.pth'),
    ('train-missing-data', r'Dataset files for .* are missing:.*no_data.*--cfg-options'),
    ('train-malformed-annotations', r'are unusable:\n.*instances_train\.json is truncated'),
    ('train-unsafe-without-file', r'--unsafe-unpickle applies only to a checkpoint named on the '
     r'command line'),
    ('train-auto-scale-lr', r'--auto-scale-lr needs auto_scale_lr\.base_batch_size'),
    ('test-missing-checkpoint', r'checkpoint not found: .*epoch_12\.pth'),
    ('demo-not-an-image', r'notes\.jpg is not an image OpenCV can read'),
    ('demo-empty-image', r'empty\.png is not an image OpenCV can read'),
    ('demo-unsupported-scope', r"default_scope in \['mmdet', 'mmpose', 'mmseg'\], got "
     r"'mmpretrain'"),
    ('converter-missing-source', r'Checkpoint file not found: .*nope\.pth'),
    ('converter-unknown-keys', r'keys have no official HorNet counterpart: '
     r"\['backbone\.stages\.0\.0\.foo\.weight'\]"),
    ('extract-no-backbone', r"No key of the checkpoint starts with 'backbone\.'"),
]


@pytest.mark.parametrize('kind,message', TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_bad_command_lines(tmp_path, toy_data, kind, message):
    with pytest.raises(SystemExit) as err:
        run_tool(*tool_case(kind, tmp_path, toy_data))
    assert err.value.code not in (0, None)
    assert __import__('re').search(message, str(err.value.code), __import__('re').S), \
        str(err.value.code)


def test_demo_missing_image_names_the_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_tool('tools/image_demo.py', [str(tmp_path / 'nope.jpg'), TOY_CONFIG, 'x.pth'])
    assert 'file not found: ' + str(tmp_path / 'nope.jpg') in capsys.readouterr().err
