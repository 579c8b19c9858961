"""Training-step benchmark of whole detectors and segmentors, built from their configs: the time
and peak memory of one step of the model a config trains, on synthetic data of a given size.

What is measured:

* the model of the config (mmdet or mmseg ``default_scope``), built in that scope as the Runner
  builds it in one process: SyncBN reverted to BN, ``init_weights()`` run, with the backbone's
  ``init_cfg`` (pretrained weights) dropped, so nothing is downloaded; ``cfg_options`` are merged
  into the config first (``Config.merge_from_dict``, as ``--cfg-options`` does);
* synthetic data, the same in every run (seeded): ``batch`` random ``3 x H x W`` uint8 images;
  detectors get a few random boxes per image, with their labels and, when the model has a mask
  head, filled-box bitmap masks; segmentors a random per-pixel ``gt_sem_seg`` of ``H x W`` (the
  data preprocessor's crop ``size`` is set to ``H x W``, so the input is what was asked; detectors
  pad to their ``pad_size_divisor`` as in training: the step's ``input_shape`` says what ran);
* the data preprocessor runs once, before the steps (the batch then rests on the device, as the
  input of the backbone benchmark does); with the model in train mode, one step is
  ``model(**data, mode='loss')``, ``model.parse_losses``, backward, a plain SGD step (lr 1e-6, no
  momentum, so no optimizer state) and ``zero_grad(set_to_none=True)``;
* seconds per step: the mean over ``iters`` timed steps after ``warmup`` untimed ones; peak
  memory: :class:`~mmmoga.devtools.benchmark.measure.PeakMemory` over the timed steps, as in
  :func:`~mmmoga.devtools.benchmark.measure.measure` (see :mod:`mmmoga.devtools.benchmark`: on
  CPU the growth of the peak RSS, so each setting runs in a fresh interpreter by default); on
  CUDA, cuDNN benchmark mode as the config's ``env_cfg`` sets it.

* ``dtype`` bf16 or fp16: autocast around the forward, and for fp16 a ``torch.amp.GradScaler``
  at mmengine's initial loss scale 2**16, as ``AmpOptimWrapper`` trains;
* ``part='backbone'``: the config's backbone alone, as the config builds it (its layout and ops),
  on a random ``batch x 3 x H x W`` input: ``infer`` (eval, no grad) or ``train`` (forward,
  backward of ``sum(output.float().mean())``, SGD step); the check of what a config's user gets
  from the backbone without the heads' time around it.

``reference_ops`` rows ("before") build the backbone with ``reference_ops=True`` (MogaNet computed
op by op as the official code does) and ``channels_last=False`` (the official code runs NCHW); the
default rows ("after") as the config builds it.
"""
import contextlib
import importlib
import inspect
import logging
import os.path as osp
import statistics
import types
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from .measure import (AUTOCAST_DTYPES, FP16_INIT_SCALE, restores_thread_count, run_measurement,
                      time_steps, training_step)
from .report import describe_environment, format_markdown, format_number, format_plain

SCOPES = ('mmdet', 'mmseg')
BOXES_PER_IMAGE = 3
LEFT_COLUMNS = ('config', 'backbone ops', 'with_cp', 'dtype', 'step')
PARTS = ('model', 'backbone')
#: ``--with-cp`` choice -> the settings run
CP_SETTINGS = {'off': (False, ), 'on': (True, ), 'both': (False, True)}


def load_task_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a detector or segmentor config, merge ``cfg_options`` and drop the backbone's
    pretrained ``init_cfg``; bad input raises an error that names the problem and the fix."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path!r} (give the path of a config, '
                                'e.g. configs/mask_rcnn_moganet_s.py)')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'{path}: default_scope is {scope!r}; the task benchmark times detectors '
                         f'and segmentors ({" or ".join(SCOPES)} configs): for a backbone alone '
                         'use tools/analysis/benchmark_backbones.py')
    if not isinstance(cfg.model.get('backbone'), dict):
        raise ValueError(f'{path}: the model has no backbone dict (model.backbone)')
    cfg.model.backbone.init_cfg = None  # no pretrained weights: nothing to download
    if 'pretrained' in cfg.model:
        cfg.model.pretrained = None  # mmseg's EncoderDecoder passes it on to the backbone
    return cfg


def check_backbone_option(cfg: Config, option: str, path: str = 'the config') -> None:
    """Raise a ``ValueError`` naming the fix when the config's backbone has no argument
    ``option`` (such as ``reference_ops`` or ``with_cp``)."""
    scope = cfg.default_scope
    registry = importlib.import_module(f'{scope}.registry').MODELS
    name = cfg.model.backbone.type
    with DefaultScope.overwrite_default_scope(scope):
        backbone = registry.get(name) if isinstance(name, str) else name
    if backbone is None:
        raise ValueError(f'{path}: backbone type {name!r} is not registered in {scope} '
                         "(is custom_imports = dict(imports=['mmmoga']) in the config?)")
    if option not in inspect.signature(backbone).parameters:
        hint = (' (--compare-reference needs a backbone with a reference implementation, as '
                'mmmoga\'s backbones have: drop --compare-reference for this config)'
                if option == 'reference_ops' else '')
        raise ValueError(f'{path}: the backbone {backbone.__name__} has no {option!r} '
                         f'argument{hint}')


def _has_backbone_option(config: str, cfg_options: Optional[dict], option: str) -> bool:
    try:
        check_backbone_option(load_task_config(config, cfg_options), option, config)
    except ValueError:
        return False
    return True


def check_configs(configs: Sequence[str],
                  cfg_options: Optional[dict] = None,
                  compare_reference: bool = False) -> None:
    """Fail with a clear error before anything is timed: a missing config, one that is not a
    detector or segmentor, a backbone without ``with_cp`` (or, with ``compare_reference``,
    without ``reference_ops``)."""
    for config in configs:
        cfg = load_task_config(config, cfg_options)
        check_backbone_option(cfg, 'with_cp', config)
        if compare_reference:
            check_backbone_option(cfg, 'reference_ops', config)


def _num_classes(model: torch.nn.Module) -> int:
    counts = [getattr(m, 'num_classes', None) for m in model.modules()]
    counts = [c for c in counts if isinstance(c, int) and c > 0]
    if not counts:
        raise ValueError('no head with num_classes in the model: cannot draw labels')
    return max(counts)  # not the RPN's single class


def synthetic_batch(model: torch.nn.Module,
                    scope: str,
                    batch: int,
                    height: int,
                    width: int,
                    seed: int = 0) -> dict:
    """What the model's data preprocessor gets from a dataloader: ``inputs`` (uint8 ``3 x H x W``
    images) and ``data_samples`` with ground truth (see the module docstring), drawn from a
    generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    num_classes = _num_classes(model)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator)

    inputs, samples = [], []
    for index in range(batch):
        inputs.append(
            torch.randint(0, 256, (3, height, width), generator=generator, dtype=torch.uint8))
        meta = dict(
            img_id=index,
            img_shape=(height, width),
            ori_shape=(height, width),
            scale_factor=(1., 1.),
            flip=False,
            flip_direction=None)
        if scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            labels = torch.randint(0, num_classes, (1, height, width), generator=generator)
            sample.gt_sem_seg = PixelData(data=labels)
        else:
            from mmdet.structures import DetDataSample
            from mmdet.structures.bbox import HorizontalBoxes
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            size = torch.tensor([width, height], dtype=torch.float32)
            corner = uniform(BOXES_PER_IMAGE, 2) * 0.6 * size
            extent = (0.1 + 0.3 * uniform(BOXES_PER_IMAGE, 2)) * size
            boxes = torch.cat([corner, torch.minimum(corner + extent, size - 1)], dim=1)
            gt = InstanceData(
                bboxes=HorizontalBoxes(boxes),
                labels=torch.randint(0, num_classes, (BOXES_PER_IMAGE, ), generator=generator))
            if getattr(model, 'with_mask', False):
                masks = torch.zeros(BOXES_PER_IMAGE, height, width, dtype=torch.uint8)
                for mask, (x1, y1, x2, y2) in zip(masks, boxes.round().long().tolist()):
                    mask[y1:y2 + 1, x1:x2 + 1] = 1
                gt.masks = BitmapMasks(masks.numpy(), height, width)
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = gt
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@restores_thread_count
def measure_task(spec: dict) -> dict:
    """One setting: ``spec`` holds ``config`` (path), ``cfg_options`` (dict), ``batch``, ``size``
    (``[H, W]``), ``iters``, ``warmup``, ``threads``, ``device`` and optionally ``seed`` (0),
    ``dtype`` (fp32, bf16, fp16), ``part`` (``model`` or ``backbone``) and ``mode`` (``train``;
    ``infer`` for the backbone alone): see the module docstring.
    Returns ``s_per_step``, ``peak_mb``, ``memory_method``, ``baseline_mb``, ``input_shape``
    (the preprocessed batch), ``params``, ``backbone`` (its type, ``with_cp`` and
    ``reference_ops`` as built) and the losses of the last step (``losses``: their names and
    values; ``loss``: the total)."""
    from mmmoga.devtools.complexity import build_model
    if spec.get('threads'):
        torch.set_num_threads(spec['threads'])
    device = torch.device(spec.get('device', 'cpu'))
    height, width = spec['size']
    cfg = load_task_config(spec['config'], spec.get('cfg_options'))
    if cfg.default_scope == 'mmseg' and 'size' in cfg.model.get('data_preprocessor', {}):
        cfg.model.data_preprocessor.size = (height, width)
    if device.type == 'cuda':  # as the Runner sets it up
        torch.backends.cudnn.benchmark = bool(cfg.get('env_cfg', {}).get('cudnn_benchmark'))
    torch.manual_seed(spec.get('seed', 0))
    model = build_model(cfg)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every parameter
    try:
        with DefaultScope.overwrite_default_scope(cfg.default_scope):
            model.init_weights()
    finally:
        logger.setLevel(level)
    part, mode, dtype = spec.get('part', 'model'), spec.get('mode', 'train'), spec.get('dtype')
    if (part, mode) not in (('model', 'train'), ('backbone', 'train'), ('backbone', 'infer')):
        raise ValueError(f'part={part!r} mode={mode!r}: the whole model is timed in training '
                         "(mode 'train'); the backbone alone in 'train' or 'infer'")
    model = model.to(device).train()
    if part == 'backbone':
        backbone = model.backbone.train(mode == 'train')
        generator = torch.Generator().manual_seed(spec.get('seed', 0))
        data = dict(inputs=torch.randn(spec['batch'], 3, height, width, generator=generator))
        data['inputs'] = data['inputs'].to(device)
    else:
        data = synthetic_batch(model, cfg.default_scope, spec['batch'], height, width,
                               spec.get('seed', 0))
        data = model.data_preprocessor(data, training=True)
    trained = model if part == 'model' else model.backbone
    params = [p for p in trained.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-6, momentum=0)
    scaler = None
    if dtype == 'fp16' and mode == 'train':
        scaler = torch.amp.GradScaler(device.type, init_scale=FP16_INIT_SCALE)
    last = {}

    def autocast():
        if dtype in AUTOCAST_DTYPES:
            return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[dtype])
        return contextlib.nullcontext()

    def step() -> None:
        if mode == 'infer':
            with torch.no_grad(), autocast():
                backbone(data['inputs'])
            return
        with autocast():
            if part == 'backbone':
                outs = backbone(data['inputs'])
                losses = dict(loss=sum(o.float().mean() for o in outs))
            else:
                losses = model(**data, mode='loss')
        loss, log_vars = model.parse_losses(losses)
        training_step(loss, optimizer, scaler)
        last.update(
            loss=loss.detach().item(),
            losses={
                k: float(torch.as_tensor(v).detach())
                for k, v in log_vars.items()
            })

    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        timing = time_steps(step, spec['iters'], spec['warmup'], device)
    elapsed = timing.pop('elapsed_s')
    step_ms = timing.pop('step_ms')
    backbone = model.backbone
    probe = data['inputs'][:1]
    with autocast():  # the decisions of the defaults, for the input and dtype just timed
        channels_last = (
            backbone.computes_channels_last(probe)
            if hasattr(backbone, 'computes_channels_last') else None)
        reference_ops = (not backbone.uses_fast_ops(probe)
                         if hasattr(backbone, 'uses_fast_ops') else None)
    return dict(
        s_per_step=elapsed / spec['iters'] if spec['iters'] else None,
        ms_median=statistics.median(step_ms) if step_ms else None,
        input_shape=list(data['inputs'].shape),
        params=sum(p.numel() for p in model.parameters()),
        backbone=dict(  # what was built, read back from the model
            type=type(backbone).__name__,
            with_cp=getattr(backbone, 'with_cp', None),
            reference_ops=reference_ops,
            channels_last=channels_last),
        **timing,
        **last)


def benchmark_task(config: str,
                   cfg_options: Optional[dict] = None,
                   batch: int = 2,
                   size: Tuple[int, int] = (800, 1333),
                   iters: int = 3,
                   warmup: int = 1,
                   threads: Optional[int] = None,
                   device: str = 'cpu',
                   isolate: bool = True,
                   timeout: Optional[float] = None,
                   dtype: str = 'fp32',
                   part: str = 'model',
                   mode: str = 'train') -> dict:
    """:func:`measure_task` of one setting, in a fresh interpreter unless ``isolate`` is False
    (errors come back as ``{'error': message}``)."""
    spec = dict(
        config=config,
        cfg_options=dict(cfg_options or {}),
        batch=batch,
        size=list(size),
        iters=iters,
        warmup=warmup,
        threads=threads,
        device=device,
        dtype=dtype,
        part=part,
        mode=mode)
    return run_measurement(spec, isolate, timeout, function=measure_task)


def _ratio(a: Optional[dict], b: Optional[dict], key: str) -> Optional[float]:
    if not a or not b or a.get(key) is None or not b.get(key):
        return None
    return a[key] / b[key]


def _median_round(results: List[dict]) -> dict:
    """The (lower) median round by seconds per step, with every round's ``round_s_per_step``;
    a single round as it is."""
    if len(results) == 1:
        return results[0]
    timed = sorted((r for r in results if r.get('s_per_step')), key=lambda r: r['s_per_step'])
    median = dict(timed[(len(timed) - 1) // 2]) if timed else dict(results[0])
    median['round_s_per_step'] = [r.get('s_per_step') for r in results]
    return median


def run_task_benchmark(configs: Sequence[str],
                       batch: int = 2,
                       size: Tuple[int, int] = (800, 1333),
                       iters: int = 3,
                       warmup: int = 1,
                       with_cp: str = 'off',
                       compare_reference: bool = False,
                       cfg_options: Optional[dict] = None,
                       threads: Optional[int] = None,
                       device: str = 'cpu',
                       isolate: bool = True,
                       timeout: Optional[float] = None,
                       log=None,
                       dtype: str = 'fp32',
                       part: str = 'model',
                       modes: Sequence[str] = ('train', ),
                       repeat: int = 1) -> dict:
    """Every config x ``with_cp`` setting (``'off'``, ``'on'`` or ``'both'``) x mode (``train``;
    with ``part='backbone'`` also ``infer``) x backbone ops (reference and default with
    ``compare_reference``, else the config's own); returns the report: ``rows`` (one per
    setting; a default row compared with its reference row has ``ratio``: ``time`` and
    ``memory``, after / before), ``environment`` and ``settings``. The configs are checked first
    (:func:`check_configs`), so bad input fails before anything is timed.

    With ``repeat`` > 1 each setting is measured in that many rounds, its ops interleaved
    (reference, default, reference, ...): a row's ``result`` is its median round (with
    ``round_s_per_step``), and ``round_ratios`` holds each round's after / before ``time``, whose
    median is the figure to quote (a neighbour's load moves single rounds by 10-30%)."""
    check_configs(configs, cfg_options, compare_reference)
    # the commit and date of the code measured, before anything in the tree can change
    environment = describe_environment(types.SimpleNamespace(device=device, threads=threads))
    ops = ('reference', 'default') if compare_reference else ('default', )
    rows = []
    for config in configs:
        layout_option = _has_backbone_option(config, cfg_options, 'channels_last')
        for cp in CP_SETTINGS[with_cp]:
            for mode in modes:
                rounds = {op: [] for op in ops}
                for round_index in range(repeat):
                    for op in ops:
                        options = dict(cfg_options or {})
                        options['model.backbone.with_cp'] = cp
                        if compare_reference:
                            options['model.backbone.reference_ops'] = op == 'reference'
                            if op == 'reference' and layout_option:
                                options['model.backbone.channels_last'] = False  # as official
                        if log:
                            log(f'[benchmark_task] {config} ops={op} with_cp={cp} {part} {mode}' +
                                (f' round {round_index + 1}/{repeat}' if repeat > 1 else ''))
                        rounds[op].append(
                            benchmark_task(config, options, batch, size, iters, warmup, threads,
                                           device, isolate, timeout, dtype, part, mode))
                measured = {op: _median_round(results) for op, results in rounds.items()}
                for op in ops:
                    label = op
                    if not compare_reference:  # the config's own ops, as built
                        built = (measured[op].get('backbone') or {}).get('reference_ops')
                        label = {True: 'reference', False: 'default'}.get(built, '-')
                    rows.append(
                        dict(config=config, ops=label, with_cp=cp, mode=mode, result=measured[op]))
                if compare_reference:
                    rows[-1]['ratio'] = dict(
                        time=_ratio(measured['default'], measured['reference'], 's_per_step'),
                        memory=_ratio(measured['default'], measured['reference'], 'peak_mb'))
                    rows[-1]['round_ratios'] = dict(time=[
                        _ratio(after, before, 's_per_step')
                        for before, after in zip(rounds['reference'], rounds['default'])
                    ])
    settings = dict(
        dtype=dtype,
        part=part,
        modes=list(modes),
        batch=batch,
        size=list(size),
        iters=iters,
        warmup=warmup,
        with_cp=with_cp,
        compare_reference=compare_reference,
        cfg_options=dict(cfg_options or {}),
        isolate=isolate,
        repeat=repeat)
    return dict(environment=environment, settings=settings, rows=rows)


def task_table(report: dict, markdown: bool = False) -> str:
    """The report's table: config, backbone ops, with_cp, input, s/step, peak MB and the
    after / before ratios (default ops over reference ops, same with_cp)."""
    settings = report['settings']
    # dtype and step columns where the run is not the default fp32 training step of the model
    detail = settings.get('dtype', 'fp32') != 'fp32' or settings.get('part', 'model') != 'model'
    header = ['config', 'backbone ops', 'with_cp'] + (['dtype', 'step'] if detail else [])
    header += ['input', 's/step', 'peak MB']
    compare = settings['compare_reference']
    if compare:
        header += ['time x', 'mem x']
    body = []
    for row in report['rows']:
        result, ratio = row['result'], row.get('ratio') or {}
        shape = result.get('input_shape')
        cells = [
            osp.splitext(osp.basename(row['config']))[0], row['ops'],
            'on' if row['with_cp'] else 'off'
        ]
        if detail:
            cells += [settings['dtype'], f'{settings["part"]} {row.get("mode", "train")}']
        cells += [
            'x'.join(str(n) for n in shape) if shape else '-',
            'err' if 'error' in result else format_number(result.get('s_per_step'), 3),
            format_number(result.get('peak_mb'), 1)
        ]
        if compare:
            cells += [
                format_number(ratio.get('time'), 2, 'x'),
                format_number(ratio.get('memory'), 2, 'x')
            ]
        body.append(cells)
    return (format_markdown if markdown else format_plain)(header, body, LEFT_COLUMNS)


def task_notes(report: dict) -> List[str]:
    """The notes under the table: the environment and settings, what the ratios mean, errors."""
    env, settings = report['environment'], report['settings']
    height, width = settings['size']
    methods = sorted(
        {r['result']['memory_method']
         for r in report['rows'] if 'memory_method' in r['result']})
    whole_model = settings.get('part', 'model') == 'model'
    notes = [
        f'device {env["device_name"]} ({env["device"]}), threads {env["threads"]}, torch '
        f'{env["torch"]}; batch {settings["batch"]}, {height}x{width} images (input = the '
        f'preprocessed batch), {settings["warmup"]} warmup + {settings["iters"]} timed steps' +
        ('' if settings['isolate'] else ', in-process') + '.',
        ('step = forward in loss mode + parse_losses + backward + SGD step (no momentum) on '
         'synthetic data (seeded); ' if whole_model else '') + 'peak MB = ' +
        (', '.join(methods) or '-') +
        ' growth over the timed steps (model, batch and optimizer resident before).',
    ]
    if settings.get('part', 'model') == 'backbone':
        notes.append('step "backbone": the config\'s backbone alone, as the config builds it, on a '
                     'random batch x 3 x H x W input; infer = eval forward without grad, train = '
                     'forward + backward of sum(output.float().mean()) + SGD step.')
    if settings.get('dtype', 'fp32') != 'fp32':
        notes.append(f'{settings["dtype"]} = autocast' +
                     (', training through torch.amp.GradScaler (initial scale 2**16)'
                      if settings['dtype'] == 'fp16' else '') + '.')
    if settings['compare_reference']:
        notes.append('backbone ops: reference = reference_ops=True and channels_last=False (the '
                     'official op-by-op block in NCHW, "before"), default = as the config builds '
                     'the backbone ("after"); time x and mem x = default / reference with the '
                     'same with_cp (<1: faster / smaller).')
    if settings.get('repeat', 1) > 1:
        notes.append(f'each row: its median of {settings["repeat"]} rounds, the ops interleaved' +
                     ('; time x of each round: ' + '; '.join(
                         f'{row["config"]} {row["mode"]} with_cp={row["with_cp"]}: ' +
                         ', '.join(format_number(r, 2) for r in row['round_ratios']['time'])
                         for row in report['rows']
                         if 'round_ratios' in row) if settings['compare_reference'] else '') + '.')
    for row in report['rows']:
        if 'error' in row['result']:
            notes.append(f'error: {row["config"]} ops={row["ops"]} with_cp={row["with_cp"]}: '
                         f'{row["result"]["error"]}')
    return notes
