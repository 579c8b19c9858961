"""The OpenMMLab stack the suite runs on: the upstream packages, or the onedl-* forks under
``make test-onedl`` (``tools/misc/test_onedl.py``), and what the forks resolve differently."""
import importlib.metadata as metadata
from typing import Optional


def installed(distribution: str) -> Optional[str]:
    """The installed version of ``distribution``, or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


#: mmengine comes from onedl-mmengine, not upstream mmengine
ON_THE_FORKS = installed('onedl-mmengine') is not None and installed('mmengine') is None
#: the forks' base configs download the OpenMMLab files (the same names) from their own host:
#: (the forks' prefix, the upstream prefix)
FORK_DOWNLOAD_HOST = ('https://mmassets.onedl.ai/', 'https://download.openmmlab.com/')


def as_upstream_urls(text: str) -> str:
    """``text`` with the forks' download host written as the upstream one: what a config
    resolved under the forks says under upstream."""
    return text.replace(*FORK_DOWNLOAD_HOST)
