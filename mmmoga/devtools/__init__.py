"""mmmoga's developer tools: what measures, verifies and documents the runtime, never imported by
it (``make lint`` checks: ``tools/misc/check_imports.py``).

* :mod:`.benchmark`: the speed and memory benchmarks and the GPU check
  (``tools/analysis/benchmark_*.py``, ``tools/analysis/gpu_check.py``);
* :mod:`.verify`: the resume, fault and preemption verifiers (``tools/misc/verify_*.py``);
* :mod:`.model_zoo`: the metafile schema, the measured figures and the model-zoo pages
  (``tools/model_zoo.py``), over the data of :mod:`mmmoga.metafiles`;
* :mod:`.figures`: the README's headline figures, ``docs/figures.md``, from the benchmarks' JSON
  (``tools/misc/figures.py``);
* :mod:`.complexity`: parameters and FLOPs of a config's model (``tools/analysis/get_flops.py``);
* :mod:`.log_curves`: the training curves of a work dir (``tools/analysis/plot_logs.py``);
* :mod:`.import_check`: the rules the runtime's imports keep.
"""
import os.path as osp

#: the directory holding the ``mmmoga`` package (the repository root in a source checkout)
PACKAGE_PARENT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
