"""Backbone benchmark behind ``tools/analysis/benchmark_backbones.py``, by flow: what can be
measured (:mod:`.models`), one measurement (:mod:`.measure`), a run over settings and rounds
(:mod:`.run`), and its report (:mod:`.report`); :mod:`.task` times whole detectors and segmentors.

What is measured:

* every model is a *backbone* returning all four stage outputs (dense mode: the layout detectors and
  segmentors use), unless its name ends in ``-cls`` (classification trunk: the pooled pre-logits);
* inference: ``model.eval()`` under ``torch.no_grad()``;
* train step: ``model.train()``, forward, loss = sum over the outputs of ``output.float().mean()``,
  backward, a plain SGD step (lr 1e-4, no momentum, so no optimizer state) and
  ``zero_grad(set_to_none=True)``;
* bf16: ``torch.autocast(device, dtype=torch.bfloat16)`` around the forward (weights stay fp32);
  channels_last: ``channels_last=True`` for our backbones, and model and input converted with
  ``memory_format=torch.channels_last``;
* ``with_cp`` only changes the training step (every backbone here skips checkpointing without
  grad), so the inference columns of a ``with_cp`` row are left empty when the same row without
  ``with_cp`` is in the run;
* throughput = batch x iters / wall time of ``--iters`` steps after ``--warmup`` steps (CUDA is
  synchronised around the timed loop, and each step is also timed with CUDA events: the median
  step time is the dense ms column); each measurement builds a fresh model (seed 0); with
  ``repeat`` > 1 every setting is measured again in interleaved rounds and the median round is
  kept, with the spread of the rounds in the notes;
* fp16: autocast, and for training a ``torch.amp.GradScaler`` at mmengine's initial scale 2**16;
* format ``default``: the model as built from an NCHW input, as a config runs it (our backbones
  choose channels-last by device); ``channels_first``/``channels_last`` force it;
* ``*-ref`` models are our backbones with ``reference_ops=True`` (the official op sequence, no
  kernels), the default peer of the same model; ``peer_memory_format`` compares every row with its
  peer in one memory format (e.g. ours in channels_last against the reference in
  channels_first).

Peak memory: the extra memory over the resting state (model on the device, input batch allocated,
optimizer built, no gradients: they are set to None after every step), over the timed steps (the
warmup steps come first, so one-time allocations such as library initialisation, oneDNN caches or
cuDNN autotuning are not counted; with ``--warmup 0`` they are):

* CUDA: ``torch.cuda.max_memory_allocated() - torch.cuda.memory_allocated()`` taken before the
  first timed step (tensors the caching allocator handed out; its reserved-but-free cache is not
  counted);
* CPU: the growth of the process's peak resident set size (``VmHWM`` of ``/proc/self/status``,
  reset through ``/proc/self/clear_refs`` just before the first timed step; where that is not
  possible, the maximum RSS sampled by a ``psutil`` thread every millisecond) over the RSS at that
  moment, taken after ``gc.collect()`` and glibc's ``malloc_trim(0)``. By default every CPU
  measurement runs in a fresh subprocess, so memory left over from another model cannot hide the
  growth. It counts activations kept for backward, gradients, temporaries, oneDNN/OpenMP
  workspaces and heap fragmentation: a resident-memory figure, coarser than the CUDA one and not
  comparable to it (compare CPU figures with CPU figures of the same run).

For a train step the peak therefore includes the gradients (as many bytes as the trainable
parameters in fp32).

FLOPs are multiply-accumulates counted by ``mmengine.analysis`` on CPU in fp32; FFTs (HorNet
``-gf``) are not counted.
"""
from .measure import (PeakMemory, check_same_output, count_backbone_complexity, image_size, measure,
                      release_freed_memory, run_measurement, size_label, worker_main)
from .models import (BENCHMARK_MODELS, Entry, arch_names, benchmark_models, build_benchmark_model,
                     canonical_name, default_peer, list_models, uses_cpu_kernels, uses_gpu_kernels,
                     weight_transfer)
from .report import (MODES, cp_summary_line, describe_environment, format_markdown, format_plain,
                     notes_text, print_report, table_rows)
from .run import (CP_CHOICES, DTYPES, GPU_KERNEL_CHOICES, ISOLATE_CHOICES, MEMORY_FORMATS,
                  Measurements, run_benchmark)

__all__ = [
    'BENCHMARK_MODELS', 'CP_CHOICES', 'DTYPES', 'Entry', 'GPU_KERNEL_CHOICES', 'arch_names',
    'benchmark_models', 'ISOLATE_CHOICES', 'MEMORY_FORMATS', 'MODES', 'Measurements', 'PeakMemory',
    'build_benchmark_model', 'canonical_name', 'check_same_output', 'count_backbone_complexity',
    'cp_summary_line', 'default_peer', 'describe_environment', 'format_markdown', 'format_plain',
    'image_size', 'list_models', 'measure', 'notes_text', 'print_report', 'release_freed_memory',
    'run_benchmark', 'run_measurement', 'size_label', 'weight_transfer', 'table_rows',
    'uses_cpu_kernels', 'uses_gpu_kernels', 'worker_main'
]
