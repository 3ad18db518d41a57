"""What the launch scripts share: user errors become one line on stderr and exit status 2, not a traceback."""

import os
import sys

import torch

from .errors import AAEError


def pick_device(name):
    """--device of the scripts after training: auto (a GPU if one is visible, else the CPU) or a torch device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise AAEError(f"--device {name}: {error}") from error
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise AAEError(f"--device {name}: no such GPU is visible (CUDA_VISIBLE_DEVICES="
                       f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); use --device cpu")
    return device


def run(main):
    try:
        main()
    except AAEError as error:
        if os.environ.get("RANK", "0") == "0":  # under DDP every rank fails alike: say it once
            print(f"{os.path.basename(sys.argv[0])}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
