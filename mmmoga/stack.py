"""The OpenMMLab stack under mmmoga: the upstream packages or their maintained ``onedl-*`` forks.

The forks keep the upstream import names (``mmengine``, ``mmcv``, ``mmdet``, ``mmseg``,
``mmpretrain``) under other distribution names (``onedl-mmengine``, ...), so mmmoga looks at what
it finds by module and version, never by distribution name alone:

- :func:`stack_report` lists each library with its version and the distribution that provides it
  (``python -m mmmoga`` prints it and exits with 1 on a problem; where a library is too old,
  ``import mmmoga``, and so the command too, stops with the error below);
- :func:`check_stack`, run by ``import mmmoga``, raises :class:`UnsupportedStackError` where a
  library is of the OpenMMLab 1.x generation (mmmoga is written for 2.x), and warns
  (:class:`MixedStackWarning`) where an upstream package and its fork are installed together
  (they share the module's files, so the later install has overwritten the other's);
- :func:`mend_mmseg_scope`, also run by ``import mmmoga``, works around one bug of the forks:
  onedl-mmengine's scope table (``mmengine.config.utils.MODULE2PACKAGE``) still names
  ``mmsegmentation`` as the distribution of the ``mmseg`` scope, so every ``mmseg::`` base config
  fails with "mmsegmentation is not installed" where only onedl-mmsegmentation is.

Add mmmoga to an environment of the forks with ``pip install --no-deps`` (its requirements name
the upstream distributions, which pip would install over the forks), then check it with ``python
-m mmmoga``; ``docs/setup.md`` has the steps.
"""
import importlib.metadata as metadata
import re
import sys
import warnings
from typing import List, NamedTuple, Optional, Tuple

__all__ = [
    'Library', 'LIBRARIES', 'UnsupportedStackError', 'MixedStackWarning', 'install_names',
    'installed_distributions', 'stack_report', 'check_stack', 'mend_mmseg_scope'
]


class Library(NamedTuple):
    """One OpenMMLab library: its module, its upstream distribution and its fork's (if any)."""
    module: str
    upstream: str
    fork: Optional[str]
    minimum: str  # the first release of the OpenMMLab 2.x generation, which mmmoga is written for


LIBRARIES = (
    Library('mmengine', 'mmengine', 'onedl-mmengine', '0.10.0'),
    Library('mmcv', 'mmcv', 'onedl-mmcv', '2.0.0'),
    Library('mmdet', 'mmdet', 'onedl-mmdetection', '3.0.0'),
    Library('mmseg', 'mmsegmentation', 'onedl-mmsegmentation', '1.0.0'),
    Library('mmpretrain', 'mmpretrain', 'onedl-mmpretrain', '1.0.0'),
    Library('mmpose', 'mmpose', None, '1.0.0'),
)
_BY_MODULE = {library.module: library for library in LIBRARIES}


class UnsupportedStackError(ImportError):
    """An installed OpenMMLab library that mmmoga is known not to work with."""


class MixedStackWarning(UserWarning):
    """An upstream OpenMMLab package and its fork are installed in one environment."""


def install_names(module: str) -> str:
    """The distributions that provide ``module``: ``'mmsegmentation (or the fork
    onedl-mmsegmentation)'``."""
    library = _BY_MODULE[module]
    return f'{library.upstream} (or the fork {library.fork})' if library.fork else library.upstream


def _version_of(distribution: str) -> Optional[str]:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed_distributions(library: Library) -> List[Tuple[str, str]]:
    """``(distribution, version)`` of each of the library's distributions that is installed."""
    names = [library.upstream] + ([library.fork] if library.fork else [])
    found = [(name, _version_of(name)) for name in names]
    return [(name, version) for name, version in found if version is not None]


def _numbers(version: str) -> Tuple[int, ...]:
    match = re.match(r'\d+(\.\d+)*', version)
    return tuple(int(n) for n in match.group(0).split('.')) if match else ()


def _module_version(library: Library) -> Optional[str]:
    """The version the imported module says it is (``None`` where it is not imported)."""
    module = sys.modules.get(library.module)
    return getattr(module, '__version__', None) if module is not None else None


def _mixed(library: Library, distributions: List[Tuple[str, str]]) -> Optional[str]:
    if len(distributions) < 2:
        return None
    both = ' and '.join(f'{name} {version}' for name, version in distributions)
    return (f'{both} are both installed; they share the module {library.module}, so the later '
            f'install has overwritten the other\'s files. Uninstall both and install one again '
            f'(pip uninstall -y {library.upstream} {library.fork})')


def _too_old(library: Library, version: Optional[str]) -> Optional[str]:
    if version is None or _numbers(version) >= _numbers(library.minimum):
        return None
    return (f'{library.module} {version} is of the OpenMMLab 1.x generation; mmmoga needs '
            f'{library.module} >= {library.minimum}: install {install_names(library.module)} '
            f'>= {library.minimum}')


def stack_report() -> List[dict]:
    """One row per library: ``module``, ``version`` (the imported module's ``__version__``, else
    the installed distribution's; ``None`` where it is not installed), ``distribution``
    (``'onedl-mmdetection'``, ...), ``error`` (a version mmmoga does not work with) and
    ``warning`` (upstream and fork installed together); each ``None`` or what is wrong and how to
    fix it."""
    rows = []
    for library in LIBRARIES:
        distributions = installed_distributions(library)
        version = _module_version(library) or (distributions[0][1] if distributions else None)
        rows.append(
            dict(
                module=library.module,
                version=version,
                distribution=', '.join(name for name, _ in distributions) or None,
                error=_too_old(library, version),
                warning=_mixed(library, distributions)))
    return rows


def check_stack() -> None:
    """Raise :class:`UnsupportedStackError` naming every library of the OpenMMLab 1.x
    generation, and warn (:class:`MixedStackWarning`) for every upstream package installed beside
    its fork. A library that is not installed is no problem here (``import mmmoga`` leaves out
    what needs it)."""
    rows = stack_report()
    for row in rows:
        if row['warning']:
            warnings.warn(f'mmmoga: {row["warning"]}', MixedStackWarning, stacklevel=3)
    errors = [row['error'] for row in rows if row['error']]
    if errors:
        raise UnsupportedStackError('mmmoga: ' + '; '.join(errors) +
                                    '. `python -m mmmoga` lists what is installed.')


def mend_mmseg_scope() -> bool:
    """Where onedl-mmengine and onedl-mmsegmentation are installed (and upstream mmsegmentation
    is not) and mmengine's scope table names ``mmsegmentation`` for the ``mmseg`` scope, name
    ``onedl-mmsegmentation`` there instead, so that ``mmseg::`` base configs load. Returns whether
    it changed the table. The bug is the fork's; report it there."""
    if _version_of('mmsegmentation') is not None or _version_of('onedl-mmsegmentation') is None \
            or _version_of('onedl-mmengine') is None:
        return False
    from mmengine.config.utils import MODULE2PACKAGE  # the dict every mmengine module shares
    if MODULE2PACKAGE.get('mmseg') != 'mmsegmentation':
        return False
    MODULE2PACKAGE['mmseg'] = 'onedl-mmsegmentation'
    return True
