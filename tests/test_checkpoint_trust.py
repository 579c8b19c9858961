"""Checkpoints never run code: crafted files are refused through every loading path, the official
layouts and mmengine's own checkpoints load under ``weights_only=True`` with an allow-list scoped
to each load, and every URL form of the official releases downloads to a sensible file name."""
import argparse
import hashlib
import io
import os
import os.path as osp
import pickle
import threading
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader
from small_models import ARCHS
from tool_scripts import cfg_options, run_tool, toy_data_options
from torch import nn
from torch.utils.data import Dataset

from mmmoga.models import MogaNet
from mmmoga.utils import checkpoint as ckpt
from mmmoga.utils.checkpoint import (CorruptCheckpointError, UntrustedCheckpointError,
                                     cache_file_name, load_checkpoint_file, loading, trust)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_toy.py')
ARCH = ARCHS['moganet']['tiny']

# ------------------------------------------------------------------------------ crafted files


def _str(text: str) -> bytes:
    data = text.encode()
    return b'X' + len(data).to_bytes(4, 'little') + data  # BINUNICODE


def _getattr(obj: bytes, name: str) -> bytes:
    return b'c__builtin__\ngetattr\n(' + obj + _str(name) + b'tR'


def _call(func: bytes, *args: str) -> bytes:
    return func + b'(' + b''.join(_str(a) for a in args) + b'tR'


def getattr_chain_pickle(command: str) -> bytes:
    """Protocol-2 opcodes for ``getattr`` steps from HistoryBuffer, whose only GLOBALs are
    ``builtins.getattr`` and HistoryBuffer (the two names mmengine checkpoints need):
    HistoryBuffer.__init__.__globals__.get('warnings').sys.modules.get('os').system(command)."""
    history_buffer = b'cmmengine.logging.history_buffer\nHistoryBuffer\n'
    module_globals = _getattr(_getattr(history_buffer, '__init__'), '__globals__')
    warnings_module = _call(_getattr(module_globals, 'get'), 'warnings')
    os_module = _call(_getattr(_getattr(_getattr(warnings_module, 'sys'), 'modules'), 'get'), 'os')
    return b'\x80\x02' + _call(_getattr(os_module, 'system'), command) + b'.'


def import_chain_pickle(command: str) -> bytes:
    """getattr(__import__('os'), 'system')(command) in protocol-2 opcodes."""
    os_module = _call(b'c__builtin__\n__import__\n', 'os')
    return b'\x80\x02' + _call(_getattr(os_module, 'system'), command) + b'.'


def torch_zip_with_pickle(path: str, data: bytes) -> None:
    """A torch.save zip file whose data.pkl is ``data``."""
    buffer = io.BytesIO()
    torch.save({}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            dst.writestr(info, data if info.filename.endswith('/data.pkl') else content)


class WritesMarker:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").write("ran")', )


class CallsSystem:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


CRAFTED = {
    # kind: (what the error must name)
    'reduce_exec': 'exec',
    'os_system': 'system',
    'getattr_chain': "getattr(<class 'mmengine.logging.history_buffer.HistoryBuffer'>, '__init__')",
    'import_chain': '__import__',
}


def craft(kind: str, folder, marker=None) -> tuple:
    """Write the crafted checkpoint ``kind``; return (path, marker path)."""
    marker = str(marker or osp.join(folder, f'MARKER_{kind}_{uuid.uuid4().hex[:6]}'))
    path = osp.join(folder, f'{kind}.pth')
    weights = {'w': torch.zeros(2)}
    if kind == 'reduce_exec':
        torch.save({'state_dict': weights, 'meta': WritesMarker(marker)}, path)
    elif kind == 'os_system':
        torch.save({'state_dict': weights, 'meta': CallsSystem(marker)}, path)
    elif kind == 'getattr_chain':
        torch_zip_with_pickle(path, getattr_chain_pickle(f'touch {marker}'))
    else:
        torch_zip_with_pickle(path, import_chain_pickle(f'touch {marker}'))
    return path, marker


@pytest.mark.parametrize('kind', list(CRAFTED))
def test_control_crafted_files_do_run_code_under_a_full_unpickle(tmp_path, kind):
    """Without the protection the marker appears: the refusal tests below can fail."""
    path, marker = craft(kind, tmp_path)
    try:
        torch.load(path, weights_only=False)
    except Exception:  # the payload's return value need not be a checkpoint
        pass
    assert osp.exists(marker)


@pytest.mark.parametrize('kind', list(CRAFTED))
def test_refused_by_the_loader_and_backbone_init_cfg(tmp_path, kind):
    path, marker = craft(kind, tmp_path)
    with pytest.raises(UntrustedCheckpointError) as err:
        load_checkpoint_file(path)
    text = str(err.value)
    assert CRAFTED[kind] in text and path in text and 'unsafe_unpickle=True' in text
    assert '--unsafe-unpickle' in text
    model = MogaNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(UntrustedCheckpointError, match=CRAFTED[kind].split('(')[0]):
        model.init_weights()
    assert not osp.exists(marker)


# ------------------------------------------------------------------------------ mmengine runner


class NoisyShapes(Dataset):

    def __init__(self, num=8):
        self.images = torch.randn(num, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        self.labels = torch.arange(num) % 3

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return dict(inputs=self.images[index], labels=self.labels[index])


class TinyClassifier(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = MogaNet(ARCH, out_indices=(3, ))
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0].mean((2, 3)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


def run(work_dir, epochs=1, resume=False, load_from=None):
    torch.manual_seed(0)
    runner = Runner(
        model=TinyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'trust_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=NoisyShapes(),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=dict(type='CosineAnnealingLR', T_max=2, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[dict(type='RandomStateHook')],
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
        default_scope='mmengine')
    runner.train()
    return runner


@pytest.fixture
def no_full_unpickle(monkeypatch):
    """Fail the test if anything calls torch.load(weights_only=False)."""
    real_load = torch.load
    calls = []

    def guarded_load(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        assert kwargs.get('weights_only') is not False, 'a full unpickle was attempted'
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', guarded_load)
    return calls


def test_mmengine_checkpoint_resumes_under_weights_only(tmp_path, no_full_unpickle):
    run(tmp_path, epochs=1)
    checkpoint_globals = loading._pickled_globals(str(tmp_path / 'epoch_1.pth'))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in checkpoint_globals
    assert 'builtins.getattr' in checkpoint_globals  # HistoryBuffer's statistics methods
    resumed = run(tmp_path, epochs=2, resume=True)
    assert resumed.epoch == 2 and no_full_unpickle and all(no_full_unpickle)
    hub = resumed.message_hub.get_scalar('train/loss')
    assert isinstance(hub, HistoryBuffer) and len(hub.data[0]) == 4  # 2 epochs x 2 iterations
    # nothing process-wide was widened: a plain torch.load still refuses the file
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(tmp_path / 'epoch_2.pth', weights_only=True)


@pytest.mark.parametrize('kind,how', [('getattr_chain', 'resume'), ('os_system', 'load_from')])
def test_refused_through_runner_resume_and_load_from(tmp_path, kind, how):
    path, marker = craft(kind, tmp_path)
    with pytest.raises(UntrustedCheckpointError, match=CRAFTED[kind].split('(')[0]):
        run(tmp_path / 'work', resume=how == 'resume', load_from=path)
    assert not osp.exists(marker)


def test_registered_loaders_cover_every_mmengine_scheme():
    for prefix, loader in CheckpointLoader._schemes.items():
        if prefix in ('', 'http://', 'https://'):
            assert loader.__name__.startswith('load_from_mmmoga'), prefix
        else:
            assert getattr(loader, '_mmmoga_scoped', False), prefix


def test_restricted_getattr_and_scope():
    with trust.scoped_allow_list():
        from torch import _weights_only_unpickler as wou
        getattr_stand_in = wou._get_user_allowed_globals()['builtins.getattr']
    assert getattr_stand_in is not getattr
    assert getattr_stand_in(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'), (os, 'system'),
                      (HistoryBuffer, '_statistics_methods')]:
        with pytest.raises(pickle.UnpicklingError, match='getattr'):
            getattr_stand_in(obj, name)
    # outside a load, nothing of it is allow-listed
    assert not any(
        g is getattr_stand_in or g is HistoryBuffer or g is argparse.Namespace or
        (isinstance(g, tuple) and g[1] == 'builtins.getattr')
        for g in torch.serialization.get_safe_globals())
    assert not any('ObjectDType' in str(g) for g in ckpt.checkpoint_safe_globals())


# ------------------------------------------------------------------------------ official layouts


def official_release(path, model):
    """A timm-saver layout (MogaNet/Conv2Former releases): args is an argparse.Namespace."""
    args = argparse.Namespace(
        model='moganet_xtiny',
        lr=1e-3,
        drop_path=0.1,
        input_size=(3, 224),
        mean=None,
        amp=True,
        epochs=300,
        output='',
        device='cuda')
    torch.save(
        {
            'epoch': 299,
            'arch': 'moganet_xtiny',
            'version': 2,
            'args': args,
            'metric': 76.5,
            'state_dict': model.state_dict(),
            'state_dict_ema': model.state_dict(),
            'optimizer': {
                'state': {},
                'param_groups': [{
                    'lr': 1e-5,
                    'params': [0]
                }]
            },
            'size': torch.Size([3, 224, 224]),
            'np_metric': np.float64(76.5)
        }, path)


def test_official_layout_loads_without_full_unpickle(tmp_path, no_full_unpickle):
    source = MogaNet(ARCH)
    path = str(tmp_path / 'moganet_xtiny_sz224_8xbs128_ep300.pth.tar')
    official_release(path, source)
    loaded = load_checkpoint_file(path)
    assert isinstance(loaded['args'], argparse.Namespace) and loaded['args'].epochs == 300
    model = MogaNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert no_full_unpickle and all(no_full_unpickle)


def test_opt_in_is_per_file_and_logged(tmp_path, mm_log):
    path, marker = craft('os_system', tmp_path)
    other, other_marker = craft('reduce_exec', tmp_path)
    model = MogaNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=path, unsafe_unpickle=True))
    with pytest.raises(Exception):  # the file ran its code, then has no usable state dict
        model.init_weights()
    assert osp.exists(marker)
    assert any('full unpickle' in m and path in m for m in mm_log)
    ckpt.trust_checkpoint(path)  # trusting one file does not trust another
    try:
        with pytest.raises(UntrustedCheckpointError):
            load_checkpoint_file(other)
        assert not osp.exists(other_marker)
    finally:
        trust._TRUSTED.clear()


# ------------------------------------------------------------------------------ faults


def test_truncated_newest_checkpoint_names_the_complete_one(tmp_path):
    run(tmp_path, epochs=2)
    newest = tmp_path / 'epoch_2.pth'
    complete = newest.read_bytes()
    # killed while epoch_2.pth was written: mmengine updates last_checkpoint only after the save,
    # so it still names epoch_1.pth, and --resume (auto) continues from the last complete one
    newest.write_bytes(complete[:4000])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert run(tmp_path, epochs=2, resume=True).epoch == 2
    assert newest.read_bytes() != complete[:4000]  # rewritten in full
    # last_checkpoint names a truncated file (e.g. a file system that lost the tail): a clear error
    newest.write_bytes(complete[:4000])
    (tmp_path / 'last_checkpoint').write_text(str(newest))
    size_before = (tmp_path / 'epoch_1.pth').stat().st_size
    with pytest.raises(CorruptCheckpointError) as err:
        run(tmp_path, epochs=3, resume=True)
    text = str(err.value)
    assert 'truncated or corrupt' in text and str(newest) in text
    assert 'last_checkpoint' in text and f'--resume {tmp_path / "epoch_1.pth"}' in text
    assert newest.exists() and (tmp_path / 'epoch_1.pth').stat().st_size == size_before
    resumed = run(tmp_path, epochs=2, resume=True, load_from=str(tmp_path / 'epoch_1.pth'))
    assert resumed.epoch == 2


# ------------------------------------------------------------------------------ URL forms

NAMING = [
    ('https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/'
     'moganet_small_sz224_8xbs128_ep300.pth.tar', 'moganet_small_sz224_8xbs128_ep300.pth.tar'),
    ('https://github.com/sail-sg/inceptionnext/releases/download/model/inceptionnext_tiny.pth',
     'inceptionnext_tiny.pth'),
    ('https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/?dl=1', 'hornet_small_7x7_in1k.pth'),
    ('https://cloud.tsinghua.edu.cn/f/959603ca287d4c09ad49/?dl=1', 'hornet_small_gf_in1k.pth'),
    ('https://cloud.tsinghua.edu.cn/f/eec48d5eca5a48d98fd2/?dl=1', 'hornet_large_gf_in22k_384.pth'),
    ('https://cloud.tsinghua.edu.cn/f/0123456789abcdef0123/?dl=1',
     'tsinghua_0123456789abcdef0123.pth'),
    ('https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/', 'hornet_small_7x7_in1k.pth'),
    ('https://huggingface.co/timm/inception_next_tiny.sail_in1k/resolve/main/pytorch_model.bin'
     '?download=true', 'inception_next_tiny.sail_in1k_pytorch_model.bin'),
    ('https://huggingface.co/MogaNet/moganet_xtiny_sz224/resolve/main/'
     'moganet_xtiny_sz224_8xbs128_ep300.pth.tar',
     'moganet_xtiny_sz224_moganet_xtiny_sz224_8xbs128_ep300.pth.tar'),
    ('https://huggingface.co/org/repo/blob/v1.0/sub/model.safetensors',
     'repo_v1.0_model.safetensors'),
    ('https://download.openmmlab.com/mmdetection/v2.0/mask_rcnn/mask_rcnn_r50_fpn_1x_coco/'
     'mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth',
     'mask_rcnn_r50_fpn_1x_coco_20200205-d4b0c5d6.pth'),
]


@pytest.mark.parametrize('url,name', NAMING)
def test_cache_file_name_of_each_url_form(url, name):
    assert cache_file_name(url) == name


def config_strings():
    """(config file, string constant) of every config and base (adjacent literals joined)."""
    import ast
    import glob
    for path in sorted(glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield osp.relpath(path, ROOT), node.value


def test_every_config_checkpoint_gets_a_file_name():
    """Every checkpoint URL of the configs names a non-empty cache file (a share link: the ``File``
    of its release in the metafiles), and every local ``pretrained/`` file is the ``File`` of a
    release whose absence the error explains."""
    from mmmoga.metafiles import find_release, is_share_page
    urls = [(path, value) for path, value in config_strings()
            if value.startswith(('http://', 'https://')) and '://pan.baidu.com' not in value
            and value.endswith(('.pth', '.tar', '?dl=1', '.bin', '.safetensors'))]
    assert urls
    for path, url in urls:
        name = cache_file_name(url)
        assert name and '/' not in name and '?' not in name, (path, url, name)
        assert name.endswith(('.pth', '.tar', '.bin', '.safetensors')), (path, url, name)
        if is_share_page(url):
            assert name == find_release(url)['File'], (path, url)
    local = [(path, value) for path, value in config_strings() if value.startswith('pretrained/')]
    assert local
    for path, value in local:
        assert find_release(file=osp.basename(value)), (path, value)


def test_files_fetched_by_hand_name_the_page_and_code(tmp_path, monkeypatch):
    from mmmoga.metafiles import releases
    monkeypatch.chdir(tmp_path)
    by_hand = [r for r in releases() if 'Extraction Code' in r]
    for record in by_hand:
        name = record['File']
        with pytest.raises(FileNotFoundError) as err:
            load_checkpoint_file(f'pretrained/{name}')
        text = str(err.value)
        assert record['URL'] in text and record['Extraction Code'] in text
        assert str(tmp_path / 'pretrained' / name) in text
        assert '--cfg-options model.backbone.init_cfg.checkpoint=' in text
    assert {r['File']
            for r in by_hand} == {
                'conv2former_n_1k.pth', 'conv2former_t_1k.pth', 'conv2former_s_1k.pth',
                'conv2former_b_1k.pth', 'conv2former_s_22k.pth', 'conv2former_b_22k.pth',
                'conv2former_l_22k.pth', 'conv2former_l_22k_384.pth'
            }
    # control: a file no release lists gets the plain message
    with pytest.raises(FileNotFoundError) as err:
        load_checkpoint_file('pretrained/conv2former_x_1k.pth')
    assert 'extraction code' not in str(err.value)


class FileServer:
    """A local HTTP server (a thread) that serves ``body`` at any path; ``/truncated/...`` promises
    more bytes than it sends, ``/html/...`` answers with a web page."""

    def __init__(self, body: bytes):
        self.body, self.paths = body, []
        server = self

        class Handler(BaseHTTPRequestHandler):

            def do_GET(self):
                server.paths.append(self.path)
                body = server.body
                if self.path.startswith('/html/'):
                    body = b'<!DOCTYPE html><html><body>Log in</body></html>'
                self.send_response(200)
                length = len(body) + (1000 if self.path.startswith('/truncated/') else 0)
                self.send_header('Content-Length', str(length))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if 'truncated' in self.path else body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_downloads_of_each_url_form(tmp_path, monkeypatch):
    source = MogaNet(ARCH)
    official_release(str(tmp_path / 'release.pth'), source)
    body = (tmp_path / 'release.pth').read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    cache = tmp_path / 'hub'
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(cache))
    with FileServer(body) as server:
        forms = {
            '/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/'
            'moganet_xtiny_sz224_8xbs128_ep300.pth.tar':
            'moganet_xtiny_sz224_8xbs128_ep300.pth.tar',
            '/f/8ef64277da0e469ea857/?dl=1':
            'hornet_small_7x7_in1k.pth',
            '/f/959603ca287d4c09ad49/':
            'hornet_small_gf_in1k.pth',
            '/timm/inception_next_tiny.sail_in1k/resolve/main/pytorch_model.bin?download=true':
            'inception_next_tiny.sail_in1k_pytorch_model.bin',
            f'/weights/moganet_xtiny-{digest[:8]}.pth':
            f'moganet_xtiny-{digest[:8]}.pth',
        }
        for path, name in forms.items():
            model = MogaNet(ARCH, init_cfg=dict(type='Pretrained', checkpoint=server.url + path))
            model.init_weights()
            assert (cache / 'checkpoints' / name).read_bytes() == body, path
            assert all(
                torch.equal(model.state_dict()[k], v) for k, v in source.state_dict().items()), path
        assert '/f/959603ca287d4c09ad49/?dl=1' in server.paths  # dl=1 added
        requests = len(server.paths)
        load_checkpoint_file(server.url + '/f/8ef64277da0e469ea857/?dl=1')  # cached: no request
        assert len(server.paths) == requests

        for path, message in [(f'/weights/moganet_xtiny-{"0" * 8}.pth', 'sha256'),
                              ('/truncated/moganet.pth', 'stopped after'),
                              ('/html/moganet.pth', 'HTML page')]:
            with pytest.raises(ckpt.CheckpointError, match=message):
                load_checkpoint_file(server.url + path)
    # nothing truncated or damaged was left in the cache, and no temporary file either
    assert sorted(os.listdir(cache / 'checkpoints')) == sorted(forms.values())
    # file:// URLs are local paths
    file_url = (tmp_path / 'release.pth').as_uri()
    assert load_checkpoint_file(file_url)['args'].epochs == 300


# ------------------------------------------------------------------------------ tools


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """One epoch of the toy Mask R-CNN through tools/train.py (1 iteration of 4 images)."""
    pytest.importorskip('mmcv')  # the toy data sets need it (not in a backbones-only install)
    from mmmoga.datasets import make_coco_instances
    root = tmp_path_factory.mktemp('trust_toy')
    data = root / 'data'
    make_coco_instances(str(data), num_train=4, num_val=2)
    work = root / 'work'
    options = toy_options(str(data))
    run_tool(
        'tools/train.py',
        [TOY_CONFIG, '--work-dir',
         str(work), '--cfg-options', *options, 'train_cfg.max_epochs=1'])
    return dict(
        data=str(data), work=str(work), checkpoint=str(work / 'epoch_1.pth'), options=options)


def toy_options(data_root):
    return cfg_options({
        **toy_data_options(data_root), 'train_cfg.val_interval': 10,
        'default_hooks.logger.interval': 1
    })


def test_real_detector_checkpoint_holds_only_allow_listed_classes(toy_run):
    names = set(loading._pickled_globals(toy_run['checkpoint']))
    assert not loading._refused_globals(toy_run['checkpoint'])
    assert {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr'} <= names
    with pytest.raises(pickle.UnpicklingError):  # torch alone refuses it: nothing is global
        torch.load(toy_run['checkpoint'], weights_only=True)


def test_tools_load_real_checkpoints_without_full_unpickle(toy_run, tmp_path, no_full_unpickle):
    run_tool('tools/test.py', [
        TOY_CONFIG, toy_run['checkpoint'], '--work-dir',
        str(tmp_path), '--cfg-options', *toy_run['options']
    ])
    run_tool('tools/train.py', [
        TOY_CONFIG, '--work-dir', toy_run['work'], '--resume', toy_run['checkpoint'],
        '--cfg-options', *toy_run['options'], 'train_cfg.max_epochs=2'
    ])
    assert osp.isfile(osp.join(toy_run['work'], 'epoch_2.pth'))
    image = osp.join(toy_run['data'], 'val', '000001.jpg')
    out = str(tmp_path / 'pred.png')
    run_tool('tools/image_demo.py', [image, TOY_CONFIG, toy_run['checkpoint'], '--out', out])
    assert osp.getsize(out) > 0 and no_full_unpickle and all(no_full_unpickle)


@pytest.mark.parametrize('tool', [
    'train_resume', 'train_load_from', 'test', 'image_demo', 'extract_backbone', 'hornet_converter',
    'inceptionnext_converter'
])
def test_refused_through_every_tool(toy_run, tmp_path, tool):
    path, marker = craft('os_system', tmp_path)
    options = ['--cfg-options', *toy_run['options']]
    image = osp.join(toy_run['data'], 'val', '000001.jpg')
    argv = {
        'train_resume':
        ('tools/train.py', [TOY_CONFIG, '--work-dir',
                            str(tmp_path), '--resume', path, *options]),
        'train_load_from':
        ('tools/train.py', [TOY_CONFIG, '--work-dir',
                            str(tmp_path), *options, f'load_from={path}']),
        'test': ('tools/test.py', [TOY_CONFIG, path, '--work-dir',
                                   str(tmp_path), *options]),
        'image_demo':
        ('tools/image_demo.py', [image, TOY_CONFIG, path, '--out',
                                 str(tmp_path / 'x.png')]),
        'extract_backbone':
        ('tools/model_converters/extract_backbone.py', [path, str(tmp_path / 'out.pth')]),
        'hornet_converter': ('tools/model_converters/hornet_mmpretrain_to_official.py',
                             [path, str(tmp_path / 'out.pth')]),
        'inceptionnext_converter': ('tools/model_converters/inceptionnext_timm_to_official.py',
                                    [path, str(tmp_path / 'out.pth')]),
    }[tool]
    with pytest.raises(SystemExit) as err:
        run_tool(*argv)
    text = str(err.value.code)
    assert 'Refusing to unpickle' in text and 'system' in text and path in text
    assert '--unsafe-unpickle' in text
    assert not osp.exists(marker) and not osp.exists(tmp_path / 'out.pth')


def test_converter_cli_opt_in_runs_only_with_the_flag(tmp_path, mm_log):
    """--unsafe-unpickle of a command line: the file's code runs only then, and it is logged."""
    path, marker = craft('os_system', tmp_path)
    tool = 'tools/model_converters/extract_backbone.py'
    with pytest.raises(SystemExit, match='Refusing to unpickle'):
        run_tool(tool, [path, str(tmp_path / 'out.pth')])
    assert not osp.exists(marker)
    try:
        with pytest.raises(SystemExit, match='backbone'):  # it ran, then holds no backbone keys
            run_tool(tool, [path, str(tmp_path / 'out.pth'), '--unsafe-unpickle'])
    finally:
        trust._TRUSTED.clear()
    assert osp.exists(marker)
    assert any('--unsafe-unpickle' in m and path in m for m in mm_log)
