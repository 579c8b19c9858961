# Conv2Former-T: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official ImageNet release is on Baidu Netdisk only: download it to this path
variant = dict(
    arch='tiny', channels=[72, 144, 288, 576], checkpoint='pretrained/conv2former_t_1k.pth')
