from .toy import make_ade20k, make_coco_instances, make_coco_keypoints

__all__ = ['make_ade20k', 'make_coco_instances', 'make_coco_keypoints']
