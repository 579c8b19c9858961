"""Weights that hold no code: official releases converted to .safetensors load with zero missing
or unexpected keys and identical outputs in every family; .safetensors files are never
unpickled (a pickle under that name is refused, a truncated file too); a file or download whose
sha256 differs from the expected one (passed in, or given by a metafile) is refused and nothing
is left in the cache."""
import copy
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors import safe_open
from small_models import SMALL_BACKBONES
from test_checkpoint_trust import FileServer, craft
from test_model_zoo import GOOD, make_zoo
from without_task_libraries import ROOT

from mmmoga import create_backbone, metafiles
from mmmoga.converters import release_to_safetensors
from mmmoga.devtools import model_zoo
from mmmoga.utils import ChecksumError, CorruptCheckpointError, file_sha256, load_checkpoint_file
from numeric_fixtures import randomise

CONVERTER = os.path.join(ROOT, 'tools', 'model_converters', 'to_safetensors.py')

#: how official releases wrap their tensors: file suffix, wrapper key, key prefix
RELEASE_LAYOUTS = {
    'timm .pth.tar, state_dict, module.': ('.pth.tar', 'state_dict', 'module.'),
    'MogaNet .pth.tar, state_dict_ema': ('.pth.tar', 'state_dict_ema', ''),
    'ConvNeXt-style .pth, model': ('.pth', 'model', ''),
    'bare .pth': ('.pth', None, ''),
    'downstream .pth, state_dict, backbone.': ('.pth', 'state_dict', 'backbone.'),
}


def save_release(path, state_dict, wrapper, prefix):
    """``state_dict`` saved as an official release would be; a ``state_dict_ema`` release also
    holds a different (zeroed) plain ``state_dict``, so that taking the wrong one shows."""
    tensors = {prefix + k: v for k, v in state_dict.items()}
    if wrapper is None:
        torch.save(tensors, path)
    elif wrapper == 'state_dict_ema':
        zeros = {k: torch.zeros_like(v) for k, v in tensors.items()}
        torch.save({'state_dict': zeros, 'state_dict_ema': tensors, 'epoch': 299}, path)
    else:
        torch.save({wrapper: tensors, 'epoch': 299}, path)


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize('family', SMALL_BACKBONES)
def test_round_trip_of_every_family(family, tmp_path, mm_log):
    source = randomise(SMALL_BACKBONES[family](), seed=2)
    x = torch.rand(2, 3, 64, 64)
    expected = outputs(source, x)
    for layout, (suffix, wrapper, prefix) in RELEASE_LAYOUTS.items():
        release = str(tmp_path / f'release{suffix}')
        save_release(release, source.state_dict(), wrapper, prefix)
        converted = str(tmp_path / 'converted.safetensors')
        report = release_to_safetensors(release, converted, use_ema=wrapper == 'state_dict_ema')
        assert report['sha256'] == file_sha256(converted), layout
        # zero missing and unexpected keys
        SMALL_BACKBONES[family]().load_state_dict(load_checkpoint_file(converted), strict=True)
        mm_log.clear()
        model = SMALL_BACKBONES[family](
            init_cfg=dict(type='Pretrained', checkpoint=converted, sha256=report['sha256']))
        model.init_weights()
        assert not [m for m in mm_log if 'Missing keys' in m or 'Unexpected keys' in m], layout
        assert all(torch.equal(a, b) for a, b in zip(outputs(model, x), expected)), layout
        with safe_open(converted, 'pt') as f:
            meta = f.metadata()
        assert meta['source'] == os.path.basename(release)
        assert meta['source_sha256'] == file_sha256(release)


def test_control_the_plain_state_dict_of_an_ema_release_is_another_model(tmp_path):
    source = randomise(SMALL_BACKBONES['moganet'](), seed=2)
    save_release(str(tmp_path / 'r.pth.tar'), source.state_dict(), 'state_dict_ema', '')
    release_to_safetensors(str(tmp_path / 'r.pth.tar'), str(tmp_path / 'plain.safetensors'))
    plain = load_checkpoint_file(str(tmp_path / 'plain.safetensors'))
    assert all(not v.any() for v in plain.values())


def test_converter_cli_checks_the_backbone_and_prints_the_sha256(tmp_path):
    source = randomise(create_backbone('moganet_xt'), seed=3)
    save_release(str(tmp_path / 'moganet_xt.pth.tar'), source.state_dict(), 'state_dict', 'module.')

    def convert(dst, backbone):
        return subprocess.run([
            sys.executable, CONVERTER,
            str(tmp_path / 'moganet_xt.pth.tar'),
            str(tmp_path / dst), '--backbone', backbone
        ],
                              capture_output=True,
                              text=True,
                              env=dict(os.environ, PYTHONPATH=ROOT),
                              cwd=tmp_path)

    done = convert('xt.safetensors', 'moganet_xt')
    assert done.returncode == 0, done.stderr
    assert f'sha256 {file_sha256(str(tmp_path / "xt.safetensors"))}' in done.stdout
    loaded = create_backbone('moganet_xt', pretrained=str(tmp_path / 'xt.safetensors'))
    x = torch.rand(1, 3, 64, 64)
    assert all(torch.equal(a, b) for a, b in zip(outputs(loaded, x), outputs(source, x)))
    wrong = convert('hornet.safetensors', 'hornet_t_7x7')  # another backbone's keys
    assert wrong.returncode != 0 and 'are not in hornet_t_7x7' in wrong.stderr
    assert not (tmp_path / 'hornet.safetensors').exists()


def test_a_pickle_named_safetensors_is_refused_never_unpickled(tmp_path):
    path, marker = craft('reduce_exec', str(tmp_path))
    os.rename(path, tmp_path / 'weights.safetensors')
    for unsafe in (False, True):
        with pytest.raises(CorruptCheckpointError, match='never unpickles a .safetensors'):
            load_checkpoint_file(str(tmp_path / 'weights.safetensors'), unsafe_unpickle=unsafe)
    model = SMALL_BACKBONES['moganet'](
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'weights.safetensors')))
    with pytest.raises(CorruptCheckpointError, match='torch.save zip archive'):
        model.init_weights()
    assert not os.path.exists(marker)
    # control: it is a pickle that runs code when unpickled
    os.rename(tmp_path / 'weights.safetensors', path)
    load_checkpoint_file(path, unsafe_unpickle=True)
    assert os.path.exists(marker)


def test_truncated_safetensors_is_an_error_naming_the_file(tmp_path):
    model = SMALL_BACKBONES['hornet-gf']()
    torch.save(model.state_dict(), tmp_path / 'r.pth')
    good = str(tmp_path / 'good.safetensors')
    release_to_safetensors(str(tmp_path / 'r.pth'), good)
    data = open(good, 'rb').read()
    for name, body in (('half.safetensors', data[:len(data) // 2]),
                       ('header.safetensors', data[:12]), ('empty.safetensors', b'')):
        (tmp_path / name).write_bytes(body)
        with pytest.raises(CorruptCheckpointError, match=f'{name}.*(truncated|empty)'):
            load_checkpoint_file(str(tmp_path / name))
    # a safetensors file under another name is recognised by its content
    (tmp_path / 'weights.bin').write_bytes(data)
    assert load_checkpoint_file(str(tmp_path / 'weights.bin')).keys() == model.state_dict().keys()


def test_a_local_file_with_another_sha256_is_refused_and_kept(tmp_path):
    model = SMALL_BACKBONES['inceptionnext']()
    torch.save({'model': model.state_dict()}, tmp_path / 'r.pth')
    path = str(tmp_path / 'w.safetensors')
    digest = release_to_safetensors(str(tmp_path / 'r.pth'), path)['sha256']
    wrong = SMALL_BACKBONES['inceptionnext'](
        init_cfg=dict(type='Pretrained', checkpoint=path, sha256='0' * 64))
    with pytest.raises(ChecksumError, match=f'has sha256 {digest}, but 0{{64}} is expected'):
        wrong.init_weights()
    assert os.path.isfile(path)
    load_checkpoint_file(path, sha256=digest.upper())  # control: the right hash loads


def zoo_root(root, url, digest, size=None):
    """A model zoo whose entry imagenet_moganet_xt releases ``url``, listed under ``Releases`` with
    sha256 ``digest`` (and ``size``)."""
    entry = dict(
        Name='imagenet_moganet_xt',
        Weights=url,
        **{
            k: v
            for k, v in GOOD.items() if k not in ('Name', 'Config')
        })
    release = dict(URL=url, Model='MogaNet-XT (test)', SHA256=digest)
    if size is not None:
        release['Size'] = size
    make_zoo(root, [entry], configs=(), releases=[release])
    return str(root)


def test_downloads_are_checked_against_the_metafile_hash(tmp_path, monkeypatch):
    source = randomise(create_backbone('moganet_xt'), seed=4)
    torch.save({'state_dict': source.state_dict()}, tmp_path / 'r.pth.tar')
    report = release_to_safetensors(str(tmp_path / 'r.pth.tar'), str(tmp_path / 'x.safetensors'))
    body = (tmp_path / 'x.safetensors').read_bytes()
    cache = tmp_path / 'hub' / 'checkpoints'
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    x = torch.rand(1, 3, 64, 64)
    with FileServer(body) as server:
        url = f'{server.url}/weights/moganet_xt.safetensors'
        # a metafile hash that the file does not have: refused, nothing cached
        monkeypatch.setattr(metafiles, 'default_root',
                            lambda: zoo_root(tmp_path / 'zoo_wrong', url, 'f' * 64))
        with pytest.raises(ChecksumError, match=f'{report["sha256"]}, but f{{64}} is expected'):
            create_backbone('moganet_xt', pretrained=True)
        assert os.listdir(cache) == []
        assert len(server.paths) == 1
        # the right hash: downloaded, checked, cached, loaded without unpickling
        root = zoo_root(tmp_path / 'zoo_right', url, report['sha256'])
        monkeypatch.setattr(metafiles, 'default_root', lambda: root)
        model = create_backbone('moganet_xt', pretrained=True)
        assert os.listdir(cache) == ['moganet_xt.safetensors']
        assert all(torch.equal(a, b) for a, b in zip(outputs(model, x), outputs(source, x)))
        # a cached copy that went bad is removed and downloaded again
        (cache / 'moganet_xt.safetensors').write_bytes(body[:-1] + b'!')
        create_backbone('moganet_xt', pretrained=True)
        assert len(server.paths) == 3
        assert (cache / 'moganet_xt.safetensors').read_bytes() == body
        # control: without a known hash the same damaged file is taken as cached
        (cache / 'moganet_xt.safetensors').write_bytes(body[:-1] + b'!')
        other = f'{server.url}/weights/other.safetensors'
        monkeypatch.setattr(metafiles, 'default_root',
                            lambda: zoo_root(tmp_path / 'zoo_none', other, 'e' * 64))
        load_checkpoint_file(url)
        assert len(server.paths) == 3
        # a release's Size is checked too: the wrong size is refused and not cached ...
        os.remove(cache / 'moganet_xt.safetensors')
        monkeypatch.setattr(
            metafiles, 'default_root',
            lambda: zoo_root(tmp_path / 'zoo_size', url, report['sha256'], size=len(body) + 1))
        with pytest.raises(ChecksumError, match=f'has {len(body)} bytes, but its release has'):
            load_checkpoint_file(url)
        assert os.listdir(cache) == []
        # ... the right one loads
        monkeypatch.setattr(
            metafiles, 'default_root',
            lambda: zoo_root(tmp_path / 'zoo_size_ok', url, report['sha256'], size=len(body)))
        load_checkpoint_file(url)
        assert os.listdir(cache) == ['moganet_xt.safetensors']


def test_metafile_releases_are_validated(tmp_path):
    url = 'https://example.org/moganet_small.pth'
    good = dict(URL=url, Model='MogaNet-S', SHA256='a' * 64, Size=100)
    assert model_zoo.validate(make_zoo(tmp_path / 'good', [GOOD], releases=[good])) == []
    breakages = {
        'bad hash': (dict(good, SHA256='A1B2'), 'must be 64 lowercase hex digits'),
        'bad size': (dict(good, Size=-1), '`Size` must be a positive number of bytes'),
        'no model': ({
            k: v
            for k, v in good.items() if k != 'Model'
        }, 'needs `Model`'),
        'unknown field': (dict(good, Host='x'), 'unknown field `Host`'),
        'share link without a file': (dict(good, URL='https://cloud.tsinghua.edu.cn/f/0123ab/'),
                                      'a share link names no file: give `File`'),
        'a path as file': (dict(good, File='sub/x.pth'), '`File` must be a plain file name'),
    }
    for what, (record, message) in breakages.items():
        errors = model_zoo.validate(make_zoo(tmp_path / what, [GOOD], releases=[record]))
        assert any(message in e for e in errors), (what, errors)
    # one record per URL (in any of its forms) and per file name
    twice = [good, dict(good, URL=url + '?download=true', SHA256='b' * 64)]
    errors = model_zoo.validate(make_zoo(tmp_path / 'twice', [GOOD], releases=twice))
    assert any('the same URL as a release of metafiles/moganet.yml' in e for e in errors), errors
    # an entry on a share link or a hand-fetched file needs its release
    shared = copy.deepcopy(GOOD)
    shared['Metadata']['Backbone Weights'] = 'pretrained/moganet_s_1k.pth'
    shared['Metadata']['Weights Host'] = 'Baidu Netdisk (no direct URL)'
    errors = model_zoo.validate(make_zoo(tmp_path / 'by_hand', [shared]))
    assert any('is a file to fetch by hand: list it under `Releases:`' in e for e in errors), errors
    listed = dict(
        URL='https://pan.baidu.com/s/1abc',
        Model='MogaNet-S',
        File='moganet_s_1k.pth',
        **{'Extraction Code': 'ab12'})
    assert model_zoo.validate(make_zoo(tmp_path / 'listed', [shared], releases=[listed])) == []
    with open(os.path.join(tmp_path, 'listed', 'metafiles', 'moganet.yml')) as f:
        assert yaml.safe_load(f)['Releases'][0]['Extraction Code'] == 'ab12'
