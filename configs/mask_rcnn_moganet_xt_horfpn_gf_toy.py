# Mask R-CNN | MogaNet-XT from scratch + HorFPN GF | built-in toy COCO: the toy job of
# mask_rcnn_moganet_xt_toy.py with the HorNet paper's gnConv FPN (order 2, global-local filter).
# Data: python tools/misc/make_toy_data.py --tasks coco   (writes data/toy/coco)
_base_ = './mask_rcnn_moganet_xt_toy.py'

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)))
