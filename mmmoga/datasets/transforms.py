"""Data transforms of the official downstream pipelines that OpenMMLab 2.x does not have."""
import math
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import Resize

from mmmoga.registry import register_transform

__all__ = ['AlignResize', 'align_resize_shape']


def align_resize_shape(height: int,
                       width: int,
                       scale: Tuple[int, int],
                       size_divisor: int = 32) -> Tuple[int, int]:
    """``(height, width)`` of an image after :class:`AlignResize`: rescaled with its aspect ratio
    kept to fit ``scale`` (``(long, short)`` edge limits, mmcv's ``imrescale`` rule), then each side
    rounded *up* to a multiple of ``size_divisor``."""
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    new_h, new_w = int(height * factor + 0.5), int(width * factor + 0.5)
    return (math.ceil(new_h / size_divisor) * size_divisor,
            math.ceil(new_w / size_divisor) * size_divisor)


@register_transform()
class AlignResize(Resize):
    """Keep-ratio resize, then a second resize so both sides are multiples of ``size_divisor``.

    The test resize of the official MogaNet segmentation configs (mmseg 0.x ``AlignResize`` of
    `MogaNet <https://arxiv.org/abs/2211.03295>`_). It is *not* mmseg 1.x's ``Resize(keep_ratio=
    True)`` followed by the data preprocessor's padding: the image is stretched (slightly, at most
    ``size_divisor - 1`` pixels per side) instead of padded, so the network sees no padded border.
    For a 500x375 (WxH) image at ``scale=(2048, 512)``: keep-ratio gives 683x512, AlignResize
    704x512 (stretched), ``Resize`` + padding 683x512 plus a 21-pixel black border.

    ``scale_factor`` is the overall ``(w_new / w, h_new / h)``, as the official transform records;
    a ``gt_seg_map`` present in ``results`` is resized the same way (nearest neighbour). Images and
    segmentation maps only (boxes and keypoints are not aligned), as the official transform.

    Args:
        scale: ``(long, short)`` target of the keep-ratio resize, e.g. ``(2048, 512)``.
        scale_factor: alternatively a factor of the image size (as mmcv's ``Resize``).
        size_divisor: both output sides are rounded up to a multiple of this. Defaults to 32.
        interpolation: image interpolation of both resizes. Defaults to ``'bilinear'``
            (official).
    """

    def __init__(self,
                 scale=None,
                 scale_factor=None,
                 size_divisor: int = 32,
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        if not isinstance(size_divisor, int) or size_divisor < 1:
            raise ValueError(f'size_divisor must be a positive int, got {size_divisor!r}')
        super().__init__(
            scale=scale,
            scale_factor=scale_factor,
            keep_ratio=True,
            interpolation=interpolation,
            backend=backend)
        self.size_divisor = size_divisor

    def _aligned(self, height: int, width: int) -> Tuple[int, int]:
        d = self.size_divisor
        return math.ceil(height / d) * d, math.ceil(width / d) * d

    def transform(self, results: dict) -> dict:
        ori_h, ori_w = results['img'].shape[:2]
        results = super().transform(results)
        kept_h, kept_w = results['img'].shape[:2]
        height, width = self._aligned(kept_h, kept_w)
        results['img'] = mmcv.imresize(
            results['img'], (width, height), interpolation=self.interpolation, backend=self.backend)
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = mmcv.imresize(
                results['gt_seg_map'], (width, height),
                interpolation='nearest',
                backend=self.backend)
        results['img_shape'] = (height, width)
        results['scale_factor'] = (width / ori_w, height / ori_h)
        if results.get('homography_matrix') is not None:
            align = np.diag([width / kept_w, height / kept_h, 1.]).astype(np.float32)
            results['homography_matrix'] = align @ results['homography_matrix']
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, scale_factor={self.scale_factor}, '
                f'size_divisor={self.size_divisor}, interpolation={self.interpolation})')
