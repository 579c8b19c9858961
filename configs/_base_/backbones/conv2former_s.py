# Conv2Former-S: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official ImageNet release is on Baidu Netdisk only: download it to this path
variant = dict(
    arch='small', channels=[72, 144, 288, 576], checkpoint='pretrained/conv2former_s_1k.pth')
