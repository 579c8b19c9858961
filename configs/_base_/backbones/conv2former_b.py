# Conv2Former-B: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official ImageNet release is on Baidu Netdisk only: download it to this path
variant = dict(
    arch='base', channels=[96, 192, 384, 768], checkpoint='pretrained/conv2former_b_1k.pth')
