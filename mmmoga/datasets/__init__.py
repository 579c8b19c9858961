from .toy import make_ade20k, make_coco_instances, make_coco_keypoints, make_shape_classification
from .transforms import AlignResize, align_resize_shape

__all__ = [
    'make_ade20k', 'make_coco_instances', 'make_coco_keypoints', 'AlignResize',
    'align_resize_shape', 'make_shape_classification'
]
