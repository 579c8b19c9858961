"""Small, learnable datasets in the real on-disk formats, so every task runs without a download.

* :func:`make_coco_instances`: COCO-style ``annotations/instances_{train,val}.json`` with boxes and
  polygon masks of coloured shapes (square / circle / triangle, one colour per class) on a textured
  background, and the JPEGs under ``{train,val}/``.
* :func:`make_ade20k`: ADE20K layout (``images/{training,validation}/*.jpg`` and
  ``annotations/{training,validation}/*.png``; label 0 = "other", as ADE20K, reduced away).
* :func:`make_coco_keypoints`: COCO ``person_keypoints_{train,val}.json`` with 17 keypoints of stick
  figures whose joints are drawn as coloured dots (the COCO keypoint order).
* :func:`make_shape_classification`: an mmpretrain ``CustomDataset`` folder layout
  (``{train,val}/{square,circle,triangle}/*.jpg``), one shape per image.

Everything is drawn from a seeded generator, so the same arguments give the same files.
"""
import json
import os
import os.path as osp
from typing import List, Tuple

import cv2
import numpy as np

SHAPES = ('square', 'circle', 'triangle')
SHAPE_COLOURS = {'square': (220, 60, 50), 'circle': (50, 190, 70), 'triangle': (60, 90, 230)}
COCO_KEYPOINTS = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                  'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
                  'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
                 [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random-gradient background with mild noise (RGB, uint8)."""
    base = rng.uniform(90, 170, size=3)
    ramp = np.linspace(-25, 25, size)[None, :, None] * rng.uniform(-1, 1, size=3)
    img = base + ramp + rng.normal(0, 6, size=(size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if shape == 'circle':
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    elif shape == 'square':
        t = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi + angle
    else:
        t = np.array([0.5, 0.5 + 2 / 3, 0.5 + 4 / 3]) * np.pi + angle
    return np.stack([cx + r * np.cos(t), cy - r * np.sin(t)], axis=1)


def _place_shapes(rng: np.random.Generator, size: int, max_objects: int) -> List[Tuple]:
    """Non-overlapping (shape, polygon) pairs."""
    placed, centres = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            r = rng.uniform(0.08, 0.2) * size
            cx, cy = rng.uniform(r + 2, size - r - 2, size=2)
            if all(np.hypot(cx - x, cy - y) > r + rr + 4 for x, y, rr in centres):
                shape = SHAPES[int(rng.integers(len(SHAPES)))]
                placed.append((shape, _shape_polygon(shape, cx, cy, r, rng.uniform(0, np.pi))))
                centres.append((cx, cy, r))
                break
    return placed


def _draw(img: np.ndarray, shape: str, polygon: np.ndarray, rng: np.random.Generator) -> None:
    colour = np.clip(np.array(SHAPE_COLOURS[shape]) + rng.normal(0, 12, 3), 0, 255)
    cv2.fillPoly(img, [np.round(polygon).astype(np.int32)], tuple(int(c) for c in colour))


def _save_rgb(path: str, img: np.ndarray) -> None:
    cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def make_coco_instances(root: str,
                        num_train: int = 240,
                        num_val: int = 60,
                        size: int = 160,
                        max_objects: int = 3,
                        seed: int = 0) -> None:
    """Write a COCO instance-segmentation dataset of coloured shapes under ``root``."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(SHAPES)]
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, num + 1):
            img = _background(rng, size)
            for shape, polygon in _place_shapes(rng, size, max_objects):
                _draw(img, shape, polygon, rng)
                polygon = np.clip(polygon, 0, size - 1)
                x0, y0 = polygon.min(0)
                x1, y1 = polygon.max(0)
                mask = np.zeros((size, size), np.uint8)
                cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=image_id,
                        category_id=SHAPES.index(shape) + 1,
                        segmentation=[[round(float(v), 2) for v in polygon.reshape(-1)]],
                        area=float(mask.sum()),
                        bbox=[float(x0), float(y0),
                              float(x1 - x0), float(y1 - y0)],
                        iscrowd=0))
            file_name = f'{image_id:06d}.jpg'
            _save_rgb(osp.join(root, split, file_name), img)
            images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def make_ade20k(root: str,
                num_train: int = 120,
                num_val: int = 30,
                size: int = 128,
                max_objects: int = 4,
                seed: int = 1) -> None:
    """Write an ADE20K-layout semantic segmentation dataset (labels: 0 other, 1 background,
    2.. shapes) under ``root``."""
    rng = np.random.default_rng(seed)
    for split, folder, num in (('train', 'training', num_train), ('val', 'validation', num_val)):
        os.makedirs(osp.join(root, 'images', folder), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', folder), exist_ok=True)
        for index in range(num):
            img = _background(rng, size)
            label = np.ones((size, size), np.uint8)
            for shape, polygon in _place_shapes(rng, size, max_objects):
                _draw(img, shape, polygon, rng)
                cv2.fillPoly(label, [np.round(polygon).astype(np.int32)], SHAPES.index(shape) + 2)
            label[:2] = 0  # a thin "other" border, ignored after reduce_zero_label
            name = f'ADE_{split}_{index:08d}'
            _save_rgb(osp.join(root, 'images', folder, name + '.jpg'), img)
            cv2.imwrite(osp.join(root, 'annotations', folder, name + '.png'), label)


def _stick_figure(rng: np.random.Generator, size: int) -> np.ndarray:
    """17 COCO keypoints (x, y) of a randomly scaled, shifted and jittered standing figure."""
    # template in units of body height, origin at the hips' centre
    template = np.array([[0, -0.85], [-0.04, -0.9], [0.04, -0.9], [-0.09, -0.87], [0.09, -0.87],
                         [-0.18, -0.62], [0.18, -0.62], [-0.26, -0.35], [0.26, -0.35], [-0.3, -0.1],
                         [0.3, -0.1], [-0.12, 0], [0.12, 0], [-0.14, 0.3], [0.14, 0.3],
                         [-0.15, 0.6], [0.15, 0.6]])
    height = rng.uniform(0.35, 0.5) * size  # the template spans 1.5 heights (y in [-0.9, 0.6])
    points = template + rng.normal(0, 0.025, template.shape)
    if rng.random() < 0.5:  # some raise their arms
        points[[7, 8, 9, 10], 1] -= rng.uniform(0.3, 0.5)
    top = max(-points[:, 1].min(), 0) * height + 6
    bottom = max(points[:, 1].max(), 0) * height + 6
    centre = np.array([rng.uniform(0.3, 0.7) * size, rng.uniform(top, size - bottom)])
    return points * height + centre


def make_coco_keypoints(root: str,
                        num_train: int = 160,
                        num_val: int = 40,
                        size: int = 192,
                        seed: int = 2) -> None:
    """Write a COCO keypoints dataset of one stick figure per image under ``root``."""
    rng = np.random.default_rng(seed)
    joint_colours = [
        tuple(
            int(c)
            for c in cv2.cvtColor(np.uint8([[[int(180 * k /
                                                  17), 230, 255]]]), cv2.COLOR_HSV2RGB)[0, 0])
        for k in range(17)
    ]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [
        dict(
            id=1,
            name='person',
            supercategory='person',
            keypoints=list(COCO_KEYPOINTS),
            skeleton=COCO_SKELETON)
    ]
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, num + 1):
            img = _background(rng, size)
            points = _stick_figure(rng, size)
            for a, b in COCO_SKELETON:
                cv2.line(img, tuple(int(v) for v in points[a - 1]),
                         tuple(int(v) for v in points[b - 1]), (40, 40, 40), 2)
            for k, (x, y) in enumerate(points):
                cv2.circle(img, (int(x), int(y)), 3, joint_colours[k], -1)
            x0, y0 = points.min(0) - 8
            x1, y1 = points.max(0) + 8
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size - 1), min(y1, size - 1)
            keypoints = np.concatenate([points, np.full((17, 1), 2)], axis=1)
            annotations.append(
                dict(
                    id=image_id,
                    image_id=image_id,
                    category_id=1,
                    iscrowd=0,
                    num_keypoints=17,
                    keypoints=[round(float(v), 2) for v in keypoints.reshape(-1)],
                    bbox=[float(x0), float(y0),
                          float(x1 - x0), float(y1 - y0)],
                    area=float((x1 - x0) * (y1 - y0))))
            file_name = f'{image_id:06d}.jpg'
            _save_rgb(osp.join(root, split, file_name), img)
            images.append(dict(id=image_id, file_name=file_name, width=size, height=size))
        with open(osp.join(root, 'annotations', f'person_keypoints_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def make_shape_classification(root: str,
                              num_train: int = 240,
                              num_val: int = 90,
                              size: int = 64,
                              seed: int = 3) -> None:
    """Write an image-classification dataset of one coloured shape per image (3 balanced
    classes, random size, position and rotation) as ``root/{train,val}/{class}/*.jpg``."""
    rng = np.random.default_rng(seed)
    for split, num in (('train', num_train), ('val', num_val)):
        for shape in SHAPES:
            os.makedirs(osp.join(root, split, shape), exist_ok=True)
        for index in range(num):
            shape = SHAPES[index % len(SHAPES)]
            img = _background(rng, size)
            r = rng.uniform(0.18, 0.35) * size
            cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
            _draw(img, shape, _shape_polygon(shape, cx, cy, r, rng.uniform(0, np.pi)), rng)
            _save_rgb(osp.join(root, split, shape, f'{index:06d}.jpg'), img)
