"""A training step replayed from one CUDA graph: its many small kernels (a step at batch 100 is launch-bound) are
launched by one call instead of one by one from Python."""

import torch

from .errors import ConfigError


def uses_cuda_graph(setting, accelerator):
    """Whether the step is replayed from a CUDA graph (--cuda-graph auto|on|off). A captured step must run without
    host syncs on one GPU: fp16's overflow check and DDP's collectives are not captured here."""
    problem = ("needs a GPU" if accelerator.device.type != "cuda" else
               "runs on one process" if accelerator.num_processes > 1 else
               "does not capture fp16's loss scaling" if accelerator.mixed_precision == "fp16" else None)
    if setting == "on" and problem:
        raise ConfigError(f"--cuda-graph on {problem}; use --cuda-graph auto (or off)")
    return setting == "on" or (setting == "auto" and problem is None)


class CUDAGraphed:
    """`fn(batch)`, batch a dict of tensors, replayed from one CUDA graph. Every call still runs `fn` once on its
    batch: the first WARMUP calls eagerly on a side stream (capture needs cuBLAS and the optimizers' state
    initialised), the next one captures the graph and replays it, later ones copy their batch into the graph's
    buffers and replay. Outputs are the graph's own tensors, overwritten by the next call."""

    WARMUP = 3

    def __init__(self, fn):
        self.fn, self.calls, self.graph = fn, 0, None

    def __call__(self, batch):
        self.calls += 1
        if self.calls <= self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = self.fn(batch)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        if self.graph is None:
            self.inputs = {key: tensor.clone() for key, tensor in batch.items()}
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: streamed batches' pin-memory thread allocates pinned memory meanwhile, which the default
            # ("global") capture mode forbids in every thread (the streamed run stopped at its capture on an H200)
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):  # records the kernels, runs none
                self.outputs = self.fn(self.inputs)
        else:
            for key, tensor in batch.items():
                self.inputs[key].copy_(tensor)
        self.graph.replay()
        return self.outputs
