# ImageNet-1K | Conv2Former-L, ImageNet-22K pre-trained | 224x224 | fine-tuning, 30 epochs
# paper (Conv2Former Table 4): 199M params, 36.0G FLOPs, 87.0 top-1; fine-tuning drop path 0.3
# (Table 11)
# release of the 22K -> 1K model (Baidu Netdisk only): https://pan.baidu.com/s/
#   1_YYQ_rY9QRkq-m2lv23GPg
# (code 44os). The ImageNet-22K pre-trained weights are not released: to fine-tune, point
# model.backbone.init_cfg at your own 22K checkpoint (dict(type='Pretrained', checkpoint=...)).
# Fine-tuning recipe: ConvNeXt's 22K -> 1K one, which the paper follows (AdamW lr 5e-5 for a batch
# of 512, wd 1e-8, no warmup, cosine, 30 epochs, no Mixup / CutMix), without its EMA and layer-wise
# decay (the paper: neither helped Conv2Former). Reconstructed: the official repository has no
# fine-tuning script.
_base_ = ['./_base_/imagenet_conv2former.py', './_base_/backbones/conv2former_l.py']

model = dict(backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.3), train_cfg=None)
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(optimizer=dict(lr=5e-5, weight_decay=1e-8))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0)]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=512)
