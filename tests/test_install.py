"""The package as a user installs it: a wheel (not the checkout) gives the commands, which run from anywhere."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import DATA_ROOT, REPO, needs_mnist


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment, folder) of the wheel installed on its own: its aae_dist first on the path, its bin/ in PATH."""
    root = tmp_path_factory.mktemp("wheel")
    # from a copy: a build in the checkout would leave build/ there, whose stale files the next wheel would take
    source = shutil.copytree(REPO, root / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".ci-venv", "build", "*.egg-info", "runs", "wandb", "data", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "-q"]
    # no build isolation: the dev extra brings setuptools, and CI may not reach an index for a build environment
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source], check=True,
                   capture_output=True, cwd=root)
    (wheel,) = (root / "dist").glob("aae_dist-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", root / "site", wheel], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(root / "site"), "PATH": f"{root / 'site' / 'bin'}{os.pathsep}"
           f"{os.environ['PATH']}", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    return env, root, wheel


def run(command, env, cwd):
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command} exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_the_wheel_holds_the_package_its_commands_and_the_classifier_weights(installed):
    _, _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {"aae_dist/cli/train.py", "aae_dist/train.py", "aae_dist/objectives/vanilla.py",
            "aae_dist/weights/classifier_mnist.safetensors"} <= set(names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    for command in ("aae-train", "aae-generate", "aae-evaluate", "aae-plot", "aae-push"):
        assert f"{command} = aae_dist.cli." in scripts


def test_the_installed_commands_run_outside_the_checkout(installed):
    env, root, _ = installed
    where = run([sys.executable, "-c", "import aae_dist; print(aae_dist.__file__)"], env, root)
    assert where.startswith(str(root / "site")), where  # the wheel's package, not the checkout's
    assert run(["aae-train", "--help"], env, root).startswith("usage: aae-train")
    assert "usage: train.py" in run([sys.executable, "-m", "aae_dist.train", "--help"], env, root)


@needs_mnist
def test_a_short_aae_train_run_from_the_wheel(installed):
    env, root, _ = installed
    run(["aae-train", "--steps", "5", "--hidden", "64", "--disc-hidden", "32", "--log-every", "5",
         "--data-root", DATA_ROOT, "--no-download", "--output-dir", "run"], env, root)
    assert (root / "run" / "model.safetensors").is_file() and (root / "run" / "config.json").is_file()
    run(["aae-generate", "--checkpoint", "run", "--num-samples", "4", "--out", "s.npz"], env, root)
    assert (root / "s.npz").is_file()


@needs_mnist
def test_accelerate_launch_of_the_module_runs_ddp_outside_the_checkout(installed):
    env, root, _ = installed
    from conftest import DDP_CPU

    out = run([*DDP_CPU, "-m", "aae_dist.train", "--steps", "4", "--hidden", "64", "--disc-hidden", "32",
               "--log-every", "2", "--data-root", DATA_ROOT, "--no-download", "--output-dir", "ddp"],
              {**env, "ACCELERATE_USE_CPU": "1"}, root)
    assert "2 process(es)" in out and (root / "ddp" / "model.safetensors").is_file()
