"""The command-line programs: aae-train, aae-generate, aae-evaluate, aae-plot, aae-push (one module each here;
launch/*.py and `python -m aae_dist.train` run the same), and what they share: user errors become one line on stderr
and exit status 2, not a traceback."""

import os
import sys
import tempfile

import torch

from .. import checkpoints, hub
from ..data import FILE_DATASETS
from ..errors import AAEError, TrainingStopped, one_line
from ..files import CONFIG_NAME, read_json
from ..models import AAE, WEIGHTS_NAME


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


def program():
    """The name the program was started by (aae-generate, or launch/generate.py's generate.py), to head its lines."""
    return os.path.basename(sys.argv[0])


def run(command, argv=None):
    """Run command(argv) as a program: its user errors end it with one line and exit status 2."""
    try:
        command(argv)
    except AAEError as error:
        if os.environ.get("RANK", "0") == "0":  # under DDP every rank fails alike: say it once
            print(f"{program()}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrainingStopped as stopped:  # the trainer has already said where its checkpoint is
        sys.exit(128 + stopped.signum)
    except KeyboardInterrupt:
        sys.exit(130)


def check_writable(flag, path):
    """Create the folder an output file or folder goes into and write a file there, before any work: an output
    that cannot be written stops the program at once, in one line, not after the work."""
    target = os.path.dirname(os.path.abspath(path.rstrip("/")))
    try:
        os.makedirs(target, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as error:
        raise AAEError(f"{flag} {path}: cannot write there ({one_line(error, 120)}); name a folder you can write "
                       "to") from None


def add_run_arguments(parser, data_root=False):
    """The flags the scripts after training share: the run directory, the seed, the device (and the data)."""
    # A Hub repo id becomes its local folder here, as it is parsed: the program after it only sees directories.
    parser.add_argument("--checkpoint", required=True, type=hub.resolve, help="run directory written by aae-train "
                        "(its final weights), one of its checkpoints/step_N directories, or a Hugging Face Hub "
                        "model repo id (org/name, written by aae-push; downloaded into the Hub cache, read from "
                        "it with HF_HUB_OFFLINE=1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prior draws (default: 0)")
    add_machine_arguments(parser, data_root)


def add_machine_arguments(parser, data_root=False):
    """This machine's flags for a trained run: the device (and where the data is)."""
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if any, else cpu)")
    if data_root:
        parser.add_argument("--data-root", help="dataset folder (default: $AAE_DATA_ROOT, else the run's)")


def read_run(path, data_root=None):
    """(the configuration of a run directory or of one of its checkpoints, the data root to use: the flag, else
    $AAE_DATA_ROOT (for torchvision's datasets), else the run's)."""
    if checkpoints.is_checkpoint(path):
        config = checkpoints.read_state(path)["config"]
    else:
        config_path = os.path.join(path, CONFIG_NAME)
        if not os.path.isfile(config_path):
            raise AAEError(f"{config_path} is missing; point at a run directory written by aae-train "
                           f"(or one of its {checkpoints.CHECKPOINTS_DIR}/step_N directories)")
        config = read_json(config_path, f"repair it from the run's {checkpoints.CHECKPOINTS_DIR}/step_N/"
                                        "trainer_state.json")
    if config.get("dataset") in FILE_DATASETS:  # the run's own folder or file: $AAE_DATA_ROOT is not about it
        return config, data_root or config["data_root"]
    return config, data_root or os.environ.get("AAE_DATA_ROOT") or config["data_root"]


def load_model(path, device, average=True):
    """The AAE of a run directory (its final weights) or of one of its checkpoints (the weights at that step; of
    a run with --ema-decay their moving average, or with average=False the trained weights)."""
    if checkpoints.is_checkpoint(path):
        return checkpoints.load_model(path, device, average)
    if not average:
        raise AAEError(f"{path}: a run directory keeps only the moving average of the weights; the trained weights "
                       f"are in its checkpoints: pass --checkpoint {os.path.join(path, checkpoints.CHECKPOINTS_DIR)}"
                       "/step_N")
    if not os.path.isfile(os.path.join(path, WEIGHTS_NAME)) and (saved := checkpoints.list_checkpoints(path)):
        raise AAEError(f"{path} has no {WEIGHTS_NAME}: its training has not finished; use its newest checkpoint, "
                       f"{saved[-1]}, or finish it with aae-train --output-dir {path} --resume")
    return AAE.from_pretrained(path, device)
