"""The Trainer owns the accelerator, the three networks, the four optimizers, the training step and checkpoints.

One step runs the lecture's three phases, each with its own optimizers:
  1. reconstruction   Q, P train; loss BCE(P(Q(x)), x);                      optim_P + optim_Q_enc step
  2. discriminator    Q eval, z_fake = Q(x) without grad, z_real ~ prior;
                      loss BCE(D(z_real), 1) + BCE(D(z_fake), 0);            optim_D steps
  3. generator        Q train; loss BCE(D(Q(x)), 1);                         optim_Q_gen steps
Every phase ends with its optimizers' gradients set to None, so nothing leaks into the next phase.
"""

import os
import time
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from functools import partial

import accelerate
import torch
from accelerate import Accelerator
from accelerate.utils import AutocastKwargs, InitProcessGroupKwargs, broadcast_object_list, set_seed
from tqdm.auto import tqdm

from . import checkpoints
from .config import TrainConfig
from .data import ShardedBatches, load_dataset
from .errors import AAEError, ConfigError, TrainingStopped
from .files import write_json
from .interrupts import StopRequests
from .losses import discriminator_loss, generator_loss, reconstruction_loss
from .models import AAE
from .plots import make_pictures
from .sampling import latent_lattice, save_grid
from .tracking import Tracker

CONFIG_NAME = "config.json"
METRICS = ("recon_loss", "d_loss", "g_loss", "d_real", "d_fake")
PHASES = ("reconstruction", "discriminator", "generator")
LOSSES = ("recon_loss", "d_loss", "g_loss")  # the loss of each phase, in PHASES order
STOP_POLL = 10  # steps between the ranks' checks for a stop signal under DDP


@contextmanager
def frozen(module):
    """Parameters of `module` need no gradient inside the block (gradients still flow through it)."""
    module.requires_grad_(False)
    try:
        yield module
    finally:
        module.requires_grad_(True)


def check_visible_gpus(config):
    """CUDA_VISIBLE_DEVICES naming a GPU that is not there would make Accelerate train on the CPU without a word."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    wants_cpu = config.cpu or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if visible not in (None, "", "-1") and not wants_cpu and not torch.cuda.is_available():
        raise ConfigError(f"CUDA_VISIBLE_DEVICES={visible} but torch sees no GPU; name a GPU that exists "
                          "(nvidia-smi lists them) or pass --cpu")


def uses_cuda_graph(config, accelerator):
    """Whether the step is replayed from a CUDA graph. A captured step must run without host syncs on one GPU:
    fp16's overflow check and DDP's collectives are not captured here."""
    problem = ("needs a GPU" if accelerator.device.type != "cuda" else
               "runs on one process" if accelerator.num_processes > 1 else
               "does not capture fp16's loss scaling" if accelerator.mixed_precision == "fp16" else None)
    if config.cuda_graph == "on" and problem:
        raise ConfigError(f"--cuda-graph on {problem}; use --cuda-graph auto (or off)")
    return config.cuda_graph == "on" or (config.cuda_graph == "auto" and problem is None)


class CUDAGraphed:
    """`fn(*tensors)` replayed from one CUDA graph: its many small kernels (a step at batch 100 is launch-bound)
    are launched by one call instead of one by one from Python. Every call still runs `fn` once on its inputs:
    the first WARMUP calls eagerly on a side stream (capture needs cuBLAS and the optimizers' state
    initialised), the next one captures the graph and replays it, later ones copy their inputs into the
    graph's buffers and replay. Outputs are the graph's own tensors, overwritten by the next call."""

    WARMUP = 3

    def __init__(self, fn):
        self.fn, self.calls, self.graph = fn, 0, None

    def __call__(self, *inputs):
        self.calls += 1
        if self.calls <= self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                outputs = self.fn(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            return outputs
        if self.graph is None:
            self.inputs = [tensor.clone() for tensor in inputs]
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records the kernels without running them
                self.outputs = self.fn(*self.inputs)
        else:
            for buffer, tensor in zip(self.inputs, inputs):
                buffer.copy_(tensor)
        self.graph.replay()
        return self.outputs


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        check_visible_gpus(config)
        self.accelerator = accelerator = Accelerator(
            cpu=config.cpu, mixed_precision=config.mixed_precision, log_with="wandb" if config.wandb else None,
            # a rank that died leaves the others waiting in a collective: fail the job after this long
            kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=config.ddp_timeout)),
                             # Each forward is its own autocast region, so caching cast weights saves nothing;
                             # under a CUDA graph the cache would hold memory the graph has freed.
                             AutocastKwargs(cache_enabled=False)])
        if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
            raise ConfigError("fp16 needs a GPU (on the CPU Accelerate would silently train in fp32); "
                              "use --mixed-precision bf16 or no")
        self.cuda_graph = uses_cuda_graph(config, accelerator)
        self.output_dir = self._output_dir()
        resume_from = self._checkpoint_to_resume() if config.resume else None

        # Same seed on every rank: identical initial weights. Then one seed per rank: independent dropout.
        set_seed(config.seed)
        self.model = AAE(config.model_config())
        Q, P, D = self.model.encoder, self.model.decoder, self.model.discriminator
        if config.compile:  # in place, so that DDP-wrapped and plain calls both run the compiled code
            for module in (Q, P, D):
                module.compile()
        # The lecture's four optimizers: two per phase; Q has one for reconstruction and one for regularization.
        # fused=True: one kernel per optimizer step instead of a loop over tensors (12x faster on a CPU).
        # capturable: the step count stays on the GPU, so that a CUDA graph can record the update.
        adam = partial(torch.optim.Adam, fused=True, capturable=self.cuda_graph)
        optim_P = adam(P.parameters(), lr=config.lr_recon)
        optim_Q_enc = adam(Q.parameters(), lr=config.lr_recon)
        optim_Q_gen = adam(Q.parameters(), lr=config.lr_reg)
        optim_D = adam(D.parameters(), lr=config.lr_reg)
        # Under DDP, Q, P and D come back wrapped; self.model keeps the plain modules (same parameters).
        (self.Q, self.P, self.D, self.optim_P, self.optim_Q_enc, self.optim_Q_gen, self.optim_D) = accelerator.prepare(
            Q, P, D, optim_P, optim_Q_enc, optim_Q_gen, optim_D)
        # Checkpoints hold the plain modules' weights, so they load whatever the number of processes.
        accelerator.register_save_state_pre_hook(self._save_plain_weights)
        accelerator.register_load_state_pre_hook(self._load_plain_weights)
        set_seed(config.seed, device_specific=True)

        with accelerator.main_process_first():  # one process downloads, the others then read
            images, _ = load_dataset(config.dataset, config.data_root, download=not config.no_download)
        self.batches = ShardedBatches(images.to(accelerator.device), config.batch_size, accelerator.process_index,
                                      accelerator.num_processes, config.seed)
        self.prior_generator = torch.Generator(accelerator.device)
        self.lattice = latent_lattice(config.z_dim).to(accelerator.device)
        self.step = 0
        self.first_nonfinite = torch.full((3,), -1, device=accelerator.device)
        self.graphed_step = CUDAGraphed(self._train_step) if self.cuda_graph else None

        if resume_from:
            self.load_checkpoint(resume_from)
        self.tracker = Tracker(accelerator, self.output_dir, self.run_config(), wandb=config.wandb,
                               project=config.wandb_project, entity=config.wandb_entity, run_name=config.run_name,
                               resume_step=self.step)

    def _output_dir(self):
        name = self.config.output_dir
        if name is None:  # every rank must agree on the timestamp: the main process picks it
            name = [os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))]
            broadcast_object_list(name)
            name = name[0]
        if os.path.exists(name) and not os.path.isdir(name):
            raise ConfigError(f"--output-dir {name} is a file; name a directory")
        if self.accelerator.is_main_process:
            os.makedirs(name, exist_ok=True)
        return name

    def _checkpoint_to_resume(self):
        """The newest checkpoint that loads safely and matches this run's model and data; the main process decides
        (older ones are tried in turn, saying so) and tells the others."""
        decision = [None, None]  # (path, error)
        if self.accelerator.is_main_process:
            decision = checkpoints.choose(self.output_dir, self.config, self.accelerator.scaler is not None)
        broadcast_object_list(decision)
        path, error = decision
        if error:
            raise ConfigError(error)
        return path

    def run_config(self):
        """The full resolved configuration, as written to config.json and W&B."""
        accelerator = self.accelerator
        return {**asdict(self.config), "output_dir": self.output_dir, "world_size": accelerator.num_processes,
                "global_batch_size": self.batches.global_batch_size, "steps_per_epoch": self.batches.steps_per_epoch,
                "device": str(accelerator.device), "distributed_type": str(accelerator.distributed_type),
                "resolved_mixed_precision": accelerator.mixed_precision, "resolved_cuda_graph": self.cuda_graph,
                "torch": torch.__version__,
                "accelerate": accelerate.__version__}

    # ---------------------------------------------------------------- one training step
    def reconstruction_phase(self, x):
        self.Q.train()
        loss = reconstruction_loss(self.P(self.Q(x)), x, self.config.recon_loss)
        self._backward_and_step(loss, self.optim_P, self.optim_Q_enc)
        return loss.detach()

    def discriminator_phase(self, x, z_real):
        self.Q.eval()
        with torch.no_grad():  # Q is not trained here: its plain module skips DDP's bookkeeping
            z_fake = self.model.encoder(x)
        # One forward over [real; fake] (one DDP forward per backward, and larger matmuls).
        real_logits, fake_logits = self.D(torch.cat([z_real, z_fake.to(z_real.dtype)])).float().chunk(2)
        loss = discriminator_loss(real_logits, fake_logits)
        self._backward_and_step(loss, self.optim_D)
        return loss.detach(), torch.sigmoid(real_logits).mean().detach(), torch.sigmoid(fake_logits).mean().detach()

    def generator_phase(self, x):
        self.Q.train()
        # D's weights would get gradients that nobody applies: freeze them and call D outside DDP, so they are
        # neither computed nor all-reduced. Gradients still flow through D into Q.
        with frozen(self.model.discriminator) as D:
            loss = generator_loss(D(self.Q(x)))
        self._backward_and_step(loss, self.optim_Q_gen)
        return loss.detach()

    def _backward_and_step(self, loss, *optimizers):
        self.accelerator.backward(loss)
        # Step the plain torch optimizers: Accelerate's wrapper adds nothing this loop needs (no gradient
        # accumulation, no XLA) but per-step overhead, and under fp16 it would update the loss scale after every
        # optimizer, so that the second optimizer of a phase could unscale with a scale its gradients were not
        # made with.
        plain = [optimizer.optimizer for optimizer in optimizers]
        scaler = self.accelerator.scaler
        if scaler is None:
            for optimizer in plain:
                optimizer.step()
        else:
            # fp16: unscale each optimizer of the phase once, skip the whole phase if any gradient overflowed;
            # train_step updates the scale once, after all three phases.
            for optimizer in plain:
                scaler.unscale_(optimizer)
            grads = [p.grad for o in plain for group in o.param_groups for p in group["params"] if p.grad is not None]
            if torch.isfinite(torch.nn.utils.get_total_norm(grads)):
                for optimizer in plain:
                    scaler.step(optimizer)
        for optimizer in plain:
            optimizer.zero_grad(set_to_none=True)

    def train_step(self, x, z_real):
        """One AAE step on this process's batch x (n, 784) and prior samples z_real (n, z_dim)."""
        if self.graphed_step:
            return self.graphed_step(x, z_real)
        return self._train_step(x, z_real)

    def _train_step(self, x, z_real):
        recon_loss = self.reconstruction_phase(x)
        d_loss, d_real, d_fake = self.discriminator_phase(x, z_real)
        g_loss = self.generator_phase(x)
        if self.accelerator.scaler is not None:
            self.accelerator.scaler.update()
        return dict(recon_loss=recon_loss, d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake)

    def prior_batch(self, step):
        """This process's prior samples for `step`: its slice of a global draw seeded by (seed, step)."""
        self.prior_generator.manual_seed(self.config.seed * 1_000_003 + step)
        n, rank = self.config.batch_size, self.accelerator.process_index
        z = self.model.prior.sample(self.batches.global_batch_size, self.prior_generator)
        return z[rank * n:(rank + 1) * n]

    # ---------------------------------------------------------------- the loop
    def fit(self):
        config, accelerator = self.config, self.accelerator
        if accelerator.is_main_process:
            write_json(os.path.join(self.output_dir, CONFIG_NAME), self.run_config())
        accelerator.print(
            f"aae_dist: {config.dataset}, {config.steps} steps, batch {config.batch_size} per process x "
            f"{accelerator.num_processes} process(es) = global batch {self.batches.global_batch_size}, "
            f"device {accelerator.device}, mixed precision {accelerator.mixed_precision}"
            f"{', CUDA graph' if self.cuda_graph else ''}, output {self.output_dir}"
            + (f", resumed at step {self.step}" if self.step else ""))
        progress = tqdm(total=config.steps, initial=self.step, desc="train", unit="step",
                        disable=not accelerator.is_main_process, dynamic_ncols=True)
        sums, count, since = torch.zeros(len(METRICS), device=accelerator.device), 0, (self.step, time.time())
        with StopRequests() as stop:
            while self.step < config.steps:
                metrics = self.train_step(self.batches.batch(self.step), self.prior_batch(self.step))
                sums += torch.stack([metrics[name].float() for name in METRICS])  # no host sync until a log step
                count += 1
                self.step += 1
                self._note_nonfinite(metrics)
                progress.update(1)
                done = self.step == config.steps
                if self.step % config.log_every == 0 or done:
                    record, since = self._log(sums / count, since)
                    progress.set_postfix(recon=f"{record['recon_loss']:.4f}", d=f"{record['d_loss']:.3f}",
                                         g=f"{record['g_loss']:.3f}", samples_s=f"{record['samples_per_s']:.0f}")
                    sums.zero_()
                    count = 0
                if self.step % config.sample_every == 0 or done:
                    self.save_samples()
                path = self.save_checkpoint() if self.step % config.checkpoint_every == 0 or done else None
                if not done and self._stop_requested(stop):
                    progress.close()
                    self._stop(stop.signum, path or self.save_checkpoint())
        progress.close()
        if accelerator.is_main_process:
            self.model.save_pretrained(self.output_dir)
            pictures = make_pictures(self.output_dir, config.dataset, config.data_root, device=accelerator.device)
            for name, path in pictures.items():
                self.tracker.log_image(f"pictures/{name}", path, self.step)
        accelerator.wait_for_everyone()
        self.tracker.finish()
        accelerator.print(f"aae_dist: done; weights in {os.path.join(self.output_dir, 'model.safetensors')}")
        return self.model

    def _log(self, means, since):
        """One metrics.jsonl (and W&B) record: means over the steps since the last record and over all processes,
        and the samples/s of those steps. Returns the record and the start of the next interval."""
        values = self.accelerator.reduce(means, reduction="mean").tolist()
        self._check_finite()
        (last_step, last_time), now = since, time.time()
        record = dict(zip(METRICS, values), epoch=round(self.step / self.batches.steps_per_epoch, 3),
                      samples_per_s=(self.step - last_step) * self.batches.global_batch_size / (now - last_time))
        self.tracker.log(record, self.step)
        return record, (self.step, now)

    def _stop(self, signum, checkpoint):
        self.tracker.finish()
        self.accelerator.print(f"aae_dist: signal {signum} received: stopped after step {self.step}, checkpoint in "
                               f"{checkpoint}; continue with --output-dir {self.output_dir} --resume")
        raise TrainingStopped(signum)

    def _stop_requested(self, stop):
        """Whether to stop now. Under DDP all ranks must agree, so every STOP_POLL steps they share their flags
        (a signal may reach them between different steps)."""
        if self.accelerator.num_processes == 1:
            return bool(stop.signum)
        if self.step % STOP_POLL:
            return False
        signum = self.accelerator.reduce(torch.tensor(stop.signum, device=self.accelerator.device), "max").item()
        stop.signum = stop.signum or signum
        return bool(signum)

    def _note_nonfinite(self, metrics):
        """Remember, on the device, the first step at which each phase's loss was not finite."""
        losses = torch.stack([metrics[name] for name in LOSSES]).float()
        first = self.first_nonfinite
        self.first_nonfinite = torch.where(~torch.isfinite(losses) & (first < 0), self.step, first)

    def _check_finite(self):
        """Stop on a non-finite loss, naming the step and phase. Under fp16 the scaler has skipped those updates
        instead (the weights stay finite), and training goes on."""
        if self.accelerator.scaler is not None:
            return
        firsts = self.accelerator.gather(self.first_nonfinite).reshape(-1, 3).tolist()
        bad = [(step, index) for rank in firsts for index, step in enumerate(rank) if step >= 0]
        if bad:
            step, index = min(bad)  # the earliest step, and its earliest phase
            raise AAEError(f"non-finite {PHASES[index]} loss at step {step}; stopped without checkpointing it. "
                           "Lower --lr-recon/--lr-reg or check the data, then --resume from the last checkpoint")

    def save_samples(self):
        """The lecture's 100-point latent lattice, decoded into samples/step_XXXXXX.png (and W&B)."""
        if not self.accelerator.is_main_process:
            return
        self.model.decoder.eval()
        images = self.model.decode(self.lattice)
        self.model.decoder.train()
        path = os.path.join(self.output_dir, "samples", f"step_{self.step:06d}.png")
        save_grid(images, path)
        self.tracker.log_image("samples/lattice", path, self.step)

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self):
        """Models, all four optimizers, the grad scaler and every process's RNG state, via Accelerate."""
        self._check_finite()  # a non-finite loss since the last log step: stop, naming its step and phase
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise AAEError(f"the weights are not finite at step {self.step}; no checkpoint written. Lower "
                           "--lr-recon/--lr-reg, then --resume from the last checkpoint")
        path = checkpoints.checkpoint_path(self.output_dir, self.step)
        if self.accelerator.is_main_process:
            checkpoints.discard(checkpoints.temporary_path(path))  # left over by a run killed mid-write
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(checkpoints.temporary_path(path))
        self.accelerator.wait_for_everyone()  # every rank's RNG file is in before the checkpoint is published
        if self.accelerator.is_main_process:
            checkpoints.publish(path, {"step": self.step, "config": asdict(self.config)})
            if self.config.keep_checkpoints:
                checkpoints.prune(self.output_dir, self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return path

    def load_checkpoint(self, path):
        self.accelerator.load_state(path)
        self.step = checkpoints.read_state(path)["step"]
        # An optimizer's saved state carries its learning rate; this run's (--lr-recon/--lr-reg given on resume) wins.
        # load_state_dict leaves `defaults` alone: it still holds the lr each optimizer was built with above.
        for optimizer in (self.optim_P, self.optim_Q_enc, self.optim_Q_gen, self.optim_D):
            for group in optimizer.optimizer.param_groups:
                group["lr"] = optimizer.optimizer.defaults["lr"]

    def _save_plain_weights(self, models, weights, output_dir):
        weights[:] = [self.accelerator.unwrap_model(model).state_dict() for model in models]

    def _load_plain_weights(self, models, input_dir):
        models[:] = [self.accelerator.unwrap_model(model) for model in models]
