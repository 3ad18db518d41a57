"""How a run takes the machine: the threads of each process of a multi-process CPU run, stated in the first line."""

import json
import os
from types import SimpleNamespace

import pytest
import torch

from aae_dist.devices import share_cpu_cores
from conftest import TINY, needs_mnist
from golden.record import cpu_model as golden_cpu_model


@pytest.fixture
def threads():
    """Torch's thread count, restored after the test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("omp, expected", [(None, max(1, len(os.sched_getaffinity(0)) // 2)), ("3", None)])
def test_processes_of_a_cpu_run_share_the_cores_unless_omp_num_threads_is_set(omp, expected, threads, monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two processes on this machine, by a launcher that set no threads
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    torch.set_num_threads(7)
    share_cpu_cores(SimpleNamespace(device=torch.device("cpu"), num_processes=2))
    assert torch.get_num_threads() == (expected or 7)  # OMP_NUM_THREADS set: the user's (or launcher's) choice


def test_one_process_keeps_torchs_own_thread_count(threads, monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(7)
    share_cpu_cores(SimpleNamespace(device=torch.device("cpu"), num_processes=1))
    assert torch.get_num_threads() == 7


@needs_mnist
def test_the_first_line_states_the_threads_per_process_and_config_json_records_them(tmp_path, script):
    out = script("launch/train.py", *TINY, "--cpu", "--steps", "2", "--log-every", "1", "--output-dir", tmp_path).stdout
    assert f"device cpu ({torch.get_num_threads()} threads per process)" in out.splitlines()[0]
    # the same seed at another thread count takes another path (the products' sums are split by thread)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["cpu_threads"] == torch.get_num_threads()
    assert config["cpu_model"] == golden_cpu_model() != "unknown"  # and another CPU model rounds differently
