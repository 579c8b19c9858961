"""The headline figures (mmmoga.devtools.figures): docs/figures.md is what the benchmarks' JSON
give and the README quotes it; each check with a control that breaks it."""
import json
import os
import os.path as osp
import shutil

import pytest

from mmmoga.devtools import figures

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ENVIRONMENT = dict(
    command='python tools/analysis/benchmark_backbones.py --repeat 5',
    date='2026-12-07',
    commit='abc1234',
    device_name='Some CPU',
    threads=2,
    cpu_cores=2,
    memory_gib=23.4,
    torch='2.13.0')


def backbone_report(infer, train):
    return dict(
        environment=ENVIRONMENT,
        rows=[
            dict(
                model='moganet_s',
                memory_format='channels_last',
                ratio=dict(train_mem=0.76),
                round_ratios=dict(infer=infer, train=train))
        ])


def task_report(infer_times, train_times, memory=0.72):
    rows = []
    for mode, times in (('infer', infer_times), ('train', train_times)):
        if times is not None:
            rows.append(dict(mode=mode, ratio=dict(memory=memory), round_ratios=dict(time=times)))
    return dict(environment=ENVIRONMENT, rows=rows)


@pytest.fixture
def zoo(tmp_path):
    """A tree with the three figures' JSON, its rendered page and a README quoting them."""
    os.makedirs(tmp_path / figures.FIGURES_DIR)
    reports = {
        'moganet_s_config_defaults.json':
        task_report([0.5, 0.4, 0.45], [0.6, 0.62, 0.61]),
        'moganet_s_backbone.json':
        backbone_report([2.0, 1.5, 1.8, 2.3, 1.8], [1.4, 1.44, 1.6, 1.7, 1.3]),
        'mask_rcnn_moganet_s_step.json':
        task_report(None, [0.55, 0.5, 0.6]),
    }
    for name, report in reports.items():
        (tmp_path / figures.FIGURES_DIR / name).write_text(json.dumps(report))
    (tmp_path / figures.PAGE).write_text(figures.render_page(str(tmp_path)))
    quotes = [figures.read_figure(str(tmp_path), f)['quote'] for f in figures.FIGURES]
    (tmp_path / figures.README).write_text(''.join(
        f'| {f.key} | {q} | [figures]({figures.PAGE}#{f.key}) |\n'
        for f, q in zip(figures.FIGURES, quotes)))
    return tmp_path


def test_the_repository_figures_agree():
    """What ``make lint`` checks: docs/figures.md is what docs/figures/*.json give, and the
    README quotes every figure as the page states it."""
    assert figures.check(ROOT) == []


def test_figures_are_medians_of_the_rounds(zoo):
    read = {f.key: figures.read_figure(str(zoo), f) for f in figures.FIGURES}
    assert read['moganet-s-backbone']['quote'] == (
        '**1.80x** forward, **1.44x** training step; 0.76x training-step memory')
    # task ratios are after / before times: the speed-up is their inverse
    assert read['moganet-s-config-defaults']['quote'] == (
        '**2.22x** inference, **1.64x** training step, 0.72x memory')
    assert read['mask-rcnn-moganet-s-step']['quote'] == '**1.82x** faster, 0.72x peak memory'
    backbone = read['moganet-s-backbone']
    assert (backbone['date'], backbone['commit']) == ('2026-12-07', 'abc1234')
    assert backbone['machine'] == 'Some CPU, 2 threads of 2 cores, 23.4 GiB, torch 2.13.0'
    assert figures.check(str(zoo)) == []


def test_control_a_readme_that_misquotes_a_figure_fails(zoo):
    readme = zoo / figures.README
    readme.write_text(readme.read_text().replace('**1.44x** training step', '**1.53x** training '
                                                 'step'))
    (problem, ) = figures.check(str(zoo))
    assert 'does not quote moganet-s-backbone' in problem and '**1.44x**' in problem


def test_control_a_stale_page_fails(zoo):
    path = zoo / figures.FIGURES_DIR / 'moganet_s_backbone.json'
    path.write_text(json.dumps(backbone_report([1.0, 1.1, 1.2], [1.0, 1.0, 1.0])))
    problems = figures.check(str(zoo))
    assert any('docs/figures.md is not what' in p for p in problems)
    assert any('does not quote moganet-s-backbone' in p for p in problems)


def test_control_fewer_than_three_rounds_is_no_headline_figure(zoo):
    path = zoo / figures.FIGURES_DIR / 'mask_rcnn_moganet_s_step.json'
    path.write_text(json.dumps(task_report(None, [0.55])))
    (problem, ) = figures.check(str(zoo))
    assert 'mask-rcnn-moganet-s-step' in problem and '1 rounds' in problem and '--repeat' in problem
    os.remove(path)
    (problem, ) = figures.check(str(zoo))
    assert 'mask_rcnn_moganet_s_step.json not found' in problem


def test_the_page_links_each_json_file(zoo, tmp_path_factory):
    page = (zoo / figures.PAGE).read_text()
    for figure in figures.FIGURES:
        assert f'## {figure.key}' in page and f'(figures/{figure.source})' in page
    assert page.count('python tools/analysis/benchmark_backbones.py --repeat 5') == 3
    copy = tmp_path_factory.mktemp('copy')
    shutil.copytree(zoo, copy, dirs_exist_ok=True)
    assert figures.render_page(str(copy)) == page  # the page depends on the JSON only
