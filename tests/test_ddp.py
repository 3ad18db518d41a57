"""2-process DDP on the CPU (gloo): ranks stay identical, and the run equals a 1-process run on the same global batch."""

import pytest
import torch
from safetensors.torch import load_file

from conftest import ACCELERATE, DDP_CPU, TINY, needs_mnist, run_script

pytestmark = needs_mnist
FLAGS = [*TINY, "--steps", "20", "--dropout", "0", "--disc-dropout", "0", "--log-every", "10",
         "--checkpoint-every", "20", "--sample-every", "20"]


@pytest.mark.parametrize("model", [["--model", "vanilla"], ["--model", "supervised", "--label-to-discriminator"],
                                   ["--arch", "conv", "--conv-width", "4"],
                                   ["--model", "semi-supervised", "--num-labels", "30", "--input-noise", "0"],
                                   ["--model", "clustering", "--clusters", "8", "--input-noise", "0",
                                    "--marginal-entropy", "5"]],
                         ids=["vanilla", "supervised", "conv", "semi-supervised", "clustering-marginal-entropy"])
def test_two_processes_equal_one_process_on_the_same_global_batch(tmp_path, model):
    run_script("tests/ddp_worker.py", tmp_path / "ddp", *FLAGS, *model, "--batch-size", "25",
               "--output-dir", tmp_path / "run_ddp", launcher=DDP_CPU, env={"ACCELERATE_USE_CPU": "1"})
    run_script("tests/ddp_worker.py", tmp_path / "single", *FLAGS, *model, "--batch-size", "50",
               "--output-dir", tmp_path / "run_single", launcher=(*ACCELERATE, "--num_processes", "1"),
               env={"ACCELERATE_USE_CPU": "1"})
    rank0, rank1 = (load_file(tmp_path / "ddp" / f"rank{r}.safetensors") for r in range(2))
    single = load_file(tmp_path / "single" / "rank0.safetensors")

    assert rank0.keys() == rank1.keys() == single.keys()
    assert any(k.startswith("optim_Q_gen.") for k in rank0) and any(k.startswith("optim_D") for k in rank0)
    for key in rank0:  # all-reduced gradients: bitwise the same parameters and Adam moments on both ranks
        assert torch.equal(rank0[key], rank1[key]), key
    for key in rank0:  # relative to each tensor's scale: Adam moments are small, and a factor 2 must show
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-3, atol=1e-4 * single[key].abs().max().item(),
                                   msg=key)
    # the 20 steps did train (a test that could not tell two processes from none would pass on init weights)
    metrics = (tmp_path / "run_ddp" / "metrics.jsonl").read_text().splitlines()
    assert len([line for line in metrics if "samples_per_s" in line]) == 2
