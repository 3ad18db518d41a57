import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real MNIST: $AAE_DATA_ROOT, else ../shared/data beside the repo, else ./data (where training downloads it).
DATA_ROOT = os.environ.get("AAE_DATA_ROOT") or next(
    (str(p) for p in (REPO.parent / "shared" / "data", REPO / "data") if (p / "MNIST").is_dir()), str(REPO / "data"))
HAVE_MNIST = (Path(DATA_ROOT) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()
# CI sets AAE_REQUIRE_DATA=1: there a missing data root is a failure, not a skip.
if not HAVE_MNIST and os.environ.get("AAE_REQUIRE_DATA") == "1":
    raise RuntimeError(f"AAE_REQUIRE_DATA=1 but MNIST is not under {DATA_ROOT}")
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not under {DATA_ROOT}; set AAE_DATA_ROOT")

# Small networks: fast, and still the real code paths.
TINY = ["--hidden", "64", "--disc-hidden", "32", "--data-root", DATA_ROOT, "--no-download"]


def tiny_config(**overrides):
    from aae_dist import TrainConfig

    values = dict(hidden=64, disc_hidden=32, data_root=DATA_ROOT, no_download=True, steps=10, log_every=5,
                  sample_every=10, checkpoint_every=10)
    return TrainConfig(**{**values, **overrides})


def run_script(*args, launcher=("python",), env=None, timeout=600, check=True):
    """Run a launch script (or any command) in a subprocess from the repo root; return the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_SILENT": "true", **(env or {})}
    command = [sys.executable if part == "python" else part for part in launcher] + [str(a) for a in args]
    result = subprocess.run(command, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n"
                             f"stderr:\n{result.stderr[-5000:]}")
    return result


ACCELERATE = (str(Path(sys.executable).parent / "accelerate"), "launch")
DDP_CPU = (*ACCELERATE, "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no")


def reset_accelerate_state():
    """Accelerate keeps process-wide state: forget it, as a new process would start."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Each in-process test starts from no Accelerate state."""
    yield
    reset_accelerate_state()


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run a launch script in this process (no interpreter start-up): returns (exit status, stdout, stderr)."""
    import runpy

    def call(script, *args, env=None):
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", [script, *map(str, args)])
        capsys.readouterr()
        try:
            runpy.run_path(str(REPO / "launch" / script), run_name="__main__")
            status = 0
        except SystemExit as exit:
            status = exit.code
        finally:
            reset_accelerate_state()  # train.py in this process again starts as in a new one
        out, err = capsys.readouterr()
        return status, out, err
    return call


@pytest.fixture
def script(cli):
    """Run a launch script in this process (no interpreter start-up, about 5 s) and require success; returns an
    object with its stdout, as run_script's."""
    from types import SimpleNamespace

    def call(name, *args, env=None):
        status, out, err = cli(name.removeprefix("launch/"), *args, env=env)
        assert status in (0, None), f"{name} exited {status}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
        return SimpleNamespace(stdout=out, stderr=err)
    return call


def no_gradients(parameters):
    """No gradient is left over for the next phase: each is None, or zero where the trainer keeps them allocated (a
    CPU: Trainer.free_gradients)."""
    return all(p.grad is None or not p.grad.any() for p in parameters)
