"""The Trainer owns the accelerator, the model's networks and optimizers, the training step and checkpoints.

It knows no AAE. The model (an aae_dist.models.AAE variant, see aae_dist/objectives/) names its networks and
optimizers and lists its phases; one training step runs every phase in order:

    for phase in phases:
        metrics = phase.compute(networks, batch)      # trained networks through DDP, used ones plain and frozen
        backward(metrics[phase.loss]); step phase.optimizers; free their gradients (zero them on a CPU)
    update the fp16 loss scale once

so nothing leaks from one phase into the next. Batches and prior draws are pure functions of (seed, step, rank):
DDP equals one process on the same global batch, and a resumed run continues exactly.
"""

import os
import time
from contextlib import contextmanager
from dataclasses import asdict
from types import SimpleNamespace

import accelerate
import torch
from accelerate.utils import broadcast_object_list, set_seed
from safetensors import SafetensorError
from torch.optim.swa_utils import get_ema_multi_avg_fn
from tqdm.auto import tqdm

from . import checkpoints, run_directory
from .config import TrainConfig, flag
from .cuda_graph import CUDAGraphed, uses_cuda_graph
from .data import (LABELLED_SUBSET_NAME, labelled_subset, load_reference_set, load_training_set, make_batches,
                   parse_num_labels)
from .schedules import lr_factor, parse_milestones
from .devices import cpu_model, make_accelerator
from .errors import AAEError, ConfigError, TrainingStopped, one_line
from .files import CONFIG_NAME, write_json
from .interrupts import StopRequests
from .metrics import test_metrics
from .models import AAE, WEIGHTS_NAME, evaluating
from .plots import make_pictures
from .sampling import save_grid
from .tracking import Tracker

EVAL_TRAINING_IMAGES = 10000  # --eval-every: the training images that name the clusters (clustering)
STOP_POLL = 10  # steps between the ranks' checks for a stop signal under DDP
MAX_SKIPPED = 50  # fp16: updates of one phase skipped in a row (overflowing gradients) that end the run


@contextmanager
def frozen(modules):
    """The parameters of `modules` need no gradient inside the block (gradients still flow through them)."""
    for module in modules:
        module.requires_grad_(False)
    try:
        yield
    finally:
        for module in modules:
            module.requires_grad_(True)


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config
        self.accelerator = accelerator = make_accelerator(config)
        self.cuda_graph = uses_cuda_graph(config.cuda_graph, accelerator)
        self.output_dir = self._output_dir()
        # One process per machine downloads (the data root is each machine's own), the others then read.
        with accelerator.local_main_process_first():
            data = load_training_set(config.dataset, config.data_root, download=not config.no_download,
                                     image_size=config.image_size, validation_images=config.validation_images)

        # Same seed on every rank: identical initial weights. Then one seed per rank: independent dropout.
        set_seed(config.seed)
        self.model = AAE(config.model_config(data.image_shape, data.num_classes))
        self.networks = self.model.networks  # the plain modules; checkpoints hold their weights
        # --ema-decay: a copy whose weights follow the trained ones as an exponential moving average (Polyak
        # averaging), updated at the end of every step; it is the model that is evaluated, sampled and saved.
        self.ema = self.ema_update = None
        if config.ema_decay:  # built before the reseed below, so that its (overwritten) initialisation changes nothing
            self.ema = AAE(self.model.config).to(accelerator.device).requires_grad_(False).eval()
            self.ema.load_state_dict(self.model.state_dict())
            self.ema_update = get_ema_multi_avg_fn(config.ema_decay)
        if config.compile:  # in place, so that DDP-wrapped and plain calls both run the compiled code
            for network in self.networks.values():
                network.compile()
        # fused=True: one kernel per optimizer step instead of a loop over tensors (12x faster on a CPU).
        # capturable: the step count stays on the GPU, so that a CUDA graph can record the update.
        # The plain torch optimizers, not Accelerate's wrapper: it adds nothing this loop needs (no gradient
        # accumulation, no XLA) but per-step overhead, and under fp16 it would update the loss scale after every
        # optimizer, so that the second optimizer of a phase could unscale with a scale its gradients were not
        # made with.
        optimizers = self.model.optimizers()
        self.base_lrs = {name: getattr(config, lr) for name, (_, lr) in optimizers.items()}
        # what the messages of a diverging run suggest lowering: "--lr-recon/--lr-reg", and the model's others
        self.rate_flags = "/".join(dict.fromkeys(flag(lr) for _, lr in optimizers.values()))
        self.optimizers = {name: self._optimizer(network, lr) for name, (network, lr) in optimizers.items()}
        # Under DDP the networks come back wrapped (same parameters); the phases call these when they train.
        self.wrapped = {name: accelerator.prepare_model(network) for name, network in self.networks.items()}
        # Checkpoints: networks and optimizers are written by name (checkpoints.write_training_state); Accelerate
        # writes every process's RNG state and the fp16 scaler, and nothing else.
        accelerator.register_save_state_pre_hook(lambda models, weights, output_dir: weights.clear())
        accelerator.register_load_state_pre_hook(lambda models, input_dir: models.clear())
        set_seed(config.seed, device_specific=True)

        resume_from = self._checkpoint_to_resume() if config.resume else None
        device = accelerator.device
        # The models that learn from a labelled subset get a mini-batch of it in every batch, by its own seed stream.
        self.labelled = (labelled_subset(data.labels, parse_num_labels(config.num_labels), config.seed)
                         if self.model.uses_labelled_subset else None)
        self.batches = make_batches(data, config.batch_size, accelerator.process_index, accelerator.num_processes,
                                    config.seed, device, config.data_on_device, config.workers, config.steps,
                                    labelled=self.labelled)
        self.eval_data = None
        if config.eval_every and accelerator.is_main_process:
            # the test split, training images that name the clusters (clustering), and the validation split if any
            test_images, test_labels, _ = load_reference_set(config.dataset, config.data_root, config.image_size)
            train = slice(EVAL_TRAINING_IMAGES)  # a quick pass: evaluate.py reads them all
            self.eval_data = (test_images, test_labels, data.images[train],
                              None if data.labels is None else data.labels[train], data.validation)
        self.phases = self.model.phases()
        self.milestones = parse_milestones(config.lr_milestones)
        self.skipped = {phase.name: 0 for phase in self.phases}  # fp16: updates skipped in a row
        self.priors = self.model.priors()
        self.prior_generator = torch.Generator(device)
        self.step = 0
        self.first_nonfinite = torch.full((len(self.phases),), -1, device=device)
        self.graphed_step = CUDAGraphed(self._train_step) if self.cuda_graph else None
        # After each phase its gradients are freed (set to None), except on a CPU: there freeing 15 MB of them hands
        # the memory back to the OS and the next backward page-faults it in again, which costs more than zeroing
        # them (1.3-1.6 ms a step at batch 100, benchmarks/levers.py); the values are the same either way.
        self.free_gradients = device.type != "cpu"

        if resume_from:
            self.load_checkpoint(resume_from)
        # --keep-best: the lowest value of the metric so far (that of checkpoints/best, where a resumed run has one)
        if config.keep_best and config.resume:
            if accelerator.is_main_process:
                checkpoints.finish_publishing(checkpoints.best_path(self.output_dir))
            accelerator.wait_for_everyone()
        self.best = checkpoints.best_so_far(self.output_dir, config.keep_best) if config.keep_best else None
        self.tracker = Tracker(accelerator, self.output_dir, self.run_config(), wandb=config.wandb,
                               project=config.wandb_project, entity=config.wandb_entity, run_name=config.run_name,
                               resume_step=self.step)

    def _optimizer(self, network, lr_field):
        """The optimizer of `network` at the rate of config field `lr_field`; with SGD, the momentum of the same
        phase group (lr_recon -> momentum_recon). A scheduled rate is a tensor on the device (see schedules.py)."""
        config = self.config
        lr = getattr(config, lr_field)
        if config.lr_schedule != "constant":
            lr = torch.tensor(lr, device=self.accelerator.device)
        if config.optimizer == "sgd":
            momentum = getattr(config, lr_field.replace("lr_", "momentum_"))
            return torch.optim.SGD(network.parameters(), lr=lr, momentum=momentum, fused=True)
        return torch.optim.Adam(network.parameters(), lr=lr, fused=True, capturable=self.cuda_graph)

    def set_learning_rates(self, step):
        """Every optimizer's rate at `step`: its base rate times the schedule's factor (in place: see schedules)."""
        factor = lr_factor(self.config.lr_schedule, step, self.config.steps, self.milestones, self.config.lr_gamma)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"].fill_(self.base_lrs[name] * factor)

    def _output_dir(self):
        name = self.config.output_dir
        if name is None:  # every rank must agree on the timestamp: the main process picks it
            name = [os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))]
            broadcast_object_list(name)
            name = name[0]
        if os.path.exists(name) and not os.path.isdir(name):
            raise ConfigError(f"--output-dir {name} is a file; name a directory")
        held = run_directory.previous_run(name) if os.path.isdir(name) and not self.config.resume else []
        if held and not self.config.overwrite:  # its checkpoints would be resumed, its W&B run continued
            raise ConfigError(f"--output-dir {name} holds a run ({', '.join(held[-2:])}); continue it with --resume, "
                              "or pass --overwrite to delete its run files and start afresh")
        try:
            os.makedirs(name, exist_ok=True)
        except OSError as error:
            raise ConfigError(f"--output-dir {name} cannot be created ({one_line(error)}); name a directory you "
                              "can write to") from error
        self.accelerator.wait_for_everyone()  # every rank has looked before the main process deletes anything
        if held and self.accelerator.is_main_process:
            run_directory.clear(name)
        return name

    def _checkpoint_to_resume(self):
        """The newest checkpoint that loads safely and matches this run's model and data; the main process decides
        (older ones are tried in turn, saying so) and tells the others."""
        decision = [None, None]  # (path, error)
        if self.accelerator.is_main_process:
            decision = checkpoints.choose(self.output_dir, self.config, self.checkpointed_networks(), self.optimizers,
                                          self.accelerator.scaler is not None)
        broadcast_object_list(decision)
        path, error = decision
        if error:
            raise ConfigError(error)
        return path

    @property
    def inference_model(self):
        """The model to evaluate, sample and save: the moving average with --ema-decay, else the trained one."""
        return self.model if self.ema is None else self.ema

    def checkpointed_networks(self):
        """The networks a checkpoint holds, by name: the trained ones and, with --ema-decay, their averages."""
        averages = () if self.ema is None else self.ema.networks.items()
        return {**self.networks, **{f"ema_{name}": network for name, network in averages}}

    def run_config(self):
        """The full resolved configuration, as written to config.json and W&B."""
        accelerator = self.accelerator
        return {**asdict(self.config), "output_dir": self.output_dir, "world_size": accelerator.num_processes,
                "global_batch_size": self.batches.global_batch_size, "steps_per_epoch": self.batches.steps_per_epoch,
                "device": str(accelerator.device), "distributed_type": str(accelerator.distributed_type),
                "resolved_mixed_precision": accelerator.mixed_precision, "resolved_cuda_graph": self.cuda_graph,
                # a CPU's matrix products split their sums among the threads: one seed takes another path at
                # another thread count (or on another CPU model), so both are part of what reproduces a run
                "cpu_threads": torch.get_num_threads(), "cpu_model": cpu_model(), "torch": torch.__version__,
                "accelerate": accelerate.__version__}

    # ---------------------------------------------------------------- one training step
    def batch(self, step):
        """This process's batch of `step`: its images (and labels), and its slice of a global draw of each prior
        seeded by (seed, step)."""
        batch = self.batches.batch(step)
        self.prior_generator.manual_seed(self.config.seed * 1_000_003 + step)
        n, rank = self.config.batch_size, self.accelerator.process_index
        for key, prior in self.priors.items():
            batch[key] = prior.sample(self.batches.global_batch_size, self.prior_generator)[rank * n:(rank + 1) * n]
        return batch

    def run_phase(self, phase, batch):
        """One phase: its networks in their modes, its loss, and its optimizers' step. Returns its metrics."""
        for name in phase.trains:
            self.wrapped[name].train()
        for name in phase.uses:
            self.networks[name].train(name not in phase.eval)
        nets = SimpleNamespace(**{name: self.wrapped[name] for name in phase.trains},
                               **{name: self.networks[name] for name in phase.uses}, ema=self.ema)
        # A used network's weights get no gradients (none computed and, under DDP, none all-reduced);
        # gradients still flow through it into the trained ones.
        with frozen([self.networks[name] for name in phase.uses]):
            metrics = phase.compute(nets, batch)
        stepped = self._backward_and_step(metrics[phase.loss], [self.optimizers[name] for name in phase.optimizers])
        self.skipped[phase.name] = 0 if stepped else self.skipped[phase.name] + 1
        if self.skipped[phase.name] == MAX_SKIPPED:
            # updates, not steps: a phase may run more than once a step (--discriminator-steps)
            raise AAEError(f"fp16: the last {MAX_SKIPPED} updates of the {phase.name} phase all overflowed, up to step "
                           f"{self.step + 1}, so it no longer learns (its loss is not finite). Use --mixed-precision "
                           f"bf16, or lower {self.rate_flags}, then --resume from the last checkpoint")
        return {name: value.detach() for name, value in metrics.items()}

    def _backward_and_step(self, loss, optimizers):
        """Backward, then step `optimizers` and free their gradients (zero them on a CPU: free_gradients). Returns
        whether they stepped."""
        self.accelerator.backward(loss)
        scaler, stepped = self.accelerator.scaler, True
        if scaler is None:
            for optimizer in optimizers:
                optimizer.step()
        else:
            # fp16: unscale each optimizer of the phase once, skip the whole phase if any gradient overflowed;
            # train_step updates the scale once, after all phases.
            for optimizer in optimizers:
                scaler.unscale_(optimizer)
            grads = [p.grad for o in optimizers for group in o.param_groups for p in group["params"]
                     if p.grad is not None]
            stepped = bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))
            if stepped:
                for optimizer in optimizers:
                    scaler.step(optimizer)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=self.free_gradients)
        return stepped

    def train_step(self, batch):
        """One step of every phase on this process's batch (see `batch`); returns the metrics as tensors."""
        if self.graphed_step:
            return self.graphed_step(batch)
        return self._train_step(batch)

    def _train_step(self, batch):
        metrics = {}
        for phase in self.phases:
            metrics.update(self.run_phase(phase, batch))
        if self.accelerator.scaler is not None:
            self.accelerator.scaler.update()
        if self.ema is not None:  # inside the step: a CUDA graph records it with the rest
            self.ema_update(list(self.ema.parameters()), list(self.model.parameters()), None)
        return metrics

    # ---------------------------------------------------------------- the loop
    def fit(self):
        """Train to --steps, or --stop-at (from where a resumed run stands), and save the run; returns the model
        model.safetensors holds (the moving average with --ema-decay) in eval mode, as AAE.from_pretrained(output_dir)
        gives it."""
        config, accelerator = self.config, self.accelerator
        end = config.stop_at or config.steps  # the schedule still spans --steps
        if accelerator.is_main_process:
            write_json(os.path.join(self.output_dir, CONFIG_NAME), self.run_config())
            if self.labelled is not None:
                write_json(os.path.join(self.output_dir, LABELLED_SUBSET_NAME),
                           {"num_labels": len(self.labelled), "seed": config.seed, "indices": self.labelled.tolist()})
        accelerator.print(
            f"aae_dist: {config.model} AAE on {config.dataset}, {config.steps} steps"
            f"{f' (this command stops at {end})' if end < config.steps else ''}, batch {config.batch_size} per "
            f"process x {accelerator.num_processes} process(es) = global batch {self.batches.global_batch_size}, "
            f"device {accelerator.device}"
            f"{f' ({torch.get_num_threads()} threads per process)' if accelerator.device.type == 'cpu' else ''}, "
            f"mixed precision {accelerator.mixed_precision}"
            f"{', CUDA graph' if self.cuda_graph else ''}, output {self.output_dir}"
            + (f", resumed at step {self.step}" if self.step else ""))
        if config.keep_best:
            self._check_keep_best()
        progress = tqdm(total=end, initial=self.step, desc="train", unit="step",
                        disable=not accelerator.is_main_process, dynamic_ncols=True)
        sums, count, since = 0, 0, (self.step, time.time())
        with StopRequests() as stop:
            while self.step < end:
                if config.lr_schedule != "constant":
                    self.set_learning_rates(self.step)
                metrics = self.train_step(self.batch(self.step))
                sums = sums + torch.stack([value.float() for value in metrics.values()])  # no host sync here
                count += 1
                self.step += 1
                self._note_nonfinite(metrics)
                progress.update(1)
                done = self.step == end
                if self.step % config.log_every == 0 or done:
                    record, since = self._log(list(metrics), sums / count, since)
                    progress.set_postfix({phase.loss: f"{record[phase.loss]:.4f}" for phase in self.phases},
                                         samples_s=f"{record['samples_per_s']:.0f}")
                    sums, count = 0, 0
                if self.step % config.sample_every == 0 or done:
                    self.save_samples()
                if config.eval_every and (self.step % config.eval_every == 0 or done):
                    if self._is_best(self.evaluate()):
                        self.save_checkpoint(best=True)
                path = self.save_checkpoint() if self.step % config.checkpoint_every == 0 or done else None
                if not done and self._stop_requested(stop):
                    progress.close()
                    self._stop(stop.signum, path or self.save_checkpoint())
        progress.close()
        if accelerator.is_main_process:
            self.inference_model.save_pretrained(self.output_dir)
            pictures = make_pictures(self.output_dir, config.dataset, config.data_root, device=accelerator.device,
                                     image_size=config.image_size)
            for name, path in pictures.items():
                self.tracker.log_image(f"pictures/{name}", path, self.step)
            if self.best is not None:
                best = checkpoints.best_path(self.output_dir)
                print(f"aae_dist: lowest {config.keep_best} {self.best:.4f} at step "
                      f"{checkpoints.read_state(best)['step']}: the weights in {best}")
        accelerator.wait_for_everyone()
        self.tracker.finish()
        weights = os.path.join(self.output_dir, WEIGHTS_NAME)
        accelerator.print(f"aae_dist: done; weights in {weights}" if end == config.steps else
                          f"aae_dist: stopped at --stop-at {end} of {config.steps} steps; weights of step {end} in "
                          f"{weights}; continue with --output-dir {self.output_dir} --resume")
        return self.inference_model.eval()

    def _log(self, names, means, since):
        """One metrics.jsonl (and W&B) record: means over the steps since the last record and over all processes,
        and the samples/s of those steps. Returns the record and the start of the next interval."""
        values = self.accelerator.reduce(means, reduction="mean").tolist()
        self._check_finite()
        (last_step, last_time), now = since, time.time()
        record = dict(zip(names, values), epoch=round(self.step / self.batches.steps_per_epoch, 3),
                      samples_per_s=(self.step - last_step) * self.batches.global_batch_size / (now - last_time))
        if self.config.lr_schedule != "constant":  # the rates of the last step
            record.update({f"lr_{name}": float(o.param_groups[0]["lr"]) for name, o in self.optimizers.items()})
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
        losses = torch.stack([metrics[phase.loss] for phase in self.phases]).float()
        first = self.first_nonfinite
        self.first_nonfinite = torch.where(~torch.isfinite(losses) & (first < 0), self.step, first)

    def _check_finite(self):
        """Stop on a non-finite loss, naming the step and phase. Under fp16 the scaler has skipped those updates
        instead (the weights stay finite), and training goes on."""
        if self.accelerator.scaler is not None:
            return
        firsts = self.accelerator.gather(self.first_nonfinite).reshape(-1, len(self.phases)).tolist()
        bad = [(step, index) for rank in firsts for index, step in enumerate(rank) if step >= 0]
        if bad:
            step, index = min(bad)  # the earliest step, and its earliest phase
            raise AAEError(f"non-finite {self.phases[index].name} loss at step {step}; stopped without checkpointing "
                           f"it. Lower {self.rate_flags} or check the data, then --resume from the last checkpoint")

    def save_samples(self):
        """The model's preview (the vanilla AAE: the lecture's 100-point latent lattice) decoded into
        samples/step_XXXXXX.png (and W&B)."""
        if not self.accelerator.is_main_process:
            return
        model = self.inference_model
        z, labels, nrow = model.preview()
        with evaluating(model):
            images = model.decode(z, labels)
        path = os.path.join(self.output_dir, "samples", f"step_{self.step:06d}.png")
        save_grid(images, path, nrow)
        self.tracker.log_image("samples/lattice", path, self.step)

    def evaluate(self):
        """--eval-every: the model's test metrics (metrics.test_metrics: a batched pass) in metrics.jsonl and W&B,
        by the main process. With --ema-decay those of the average, and the trained weights' as raw_NAME."""
        if not self.accelerator.is_main_process:
            return None
        with evaluating(self.model):
            record = self._eval_metrics(self.model)
        if self.ema is not None:
            record = {**self._eval_metrics(self.ema), **{f"raw_{k}": v for k, v in record.items()}}
        self.tracker.log(record, self.step)
        return record

    def _is_best(self, record):
        """--keep-best METRIC: whether this evaluation's record (the main process's) has the lowest METRIC yet.
        The main process decides; the others follow, as they all write the checkpoint (or all stop)."""
        metric = self.config.keep_best
        if not metric:
            return False
        decision = [None]  # the new lowest value
        if self.accelerator.is_main_process and (self.best is None or record[metric] < self.best):
            decision[0] = record[metric]
        broadcast_object_list(decision)
        if decision[0] is not None:
            self.best = decision[0]
        return decision[0] is not None

    def _check_keep_best(self):
        """--keep-best METRIC: stop every process before the first step, not at the first evaluation, when the
        evaluation records no METRIC (its names from an evaluation of a few images, by the main process)."""
        error = [None]
        if self.accelerator.is_main_process:
            with evaluating(self.model):
                names = self._eval_metrics(self.model, images=100)
            if self.config.keep_best not in names:
                error[0] = (f"--keep-best {self.config.keep_best}: the evaluation records no {self.config.keep_best}; "
                            f"choose one of {', '.join(name for name in names if name.startswith('val_'))}")
        broadcast_object_list(error)
        if error[0]:
            raise AAEError(error[0])

    def _eval_metrics(self, model, images=None):
        """test_metrics on the test split and, with --validation-images, the same on the validation split as
        val_NAME (val_error: the figure to choose checkpoints and settings by); on the first `images` of each."""
        def first(part):  # its first `images` (all of it with images=None)
            return None if part is None else part[:images]
        test_images, test_labels, train_images, train_labels, validation = self.eval_data
        train = first(train_images), first(train_labels)
        record = test_metrics(model, first(test_images), first(test_labels), *train)
        if validation is not None:
            record.update({name.replace("test_", "val_"): value for name, value in
                           test_metrics(model, first(validation[0]), first(validation[1]), *train).items()})
        return record

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, best=False):
        """Every network and optimizer by name, the grad scaler and every process's RNG state, in
        checkpoints/step_N (or with best=True in checkpoints/best, replacing the one kept before)."""
        self._check_finite()  # a non-finite loss since the last log step: stop, naming its step and phase
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise AAEError(f"the weights are not finite at step {self.step}; no checkpoint written. Lower "
                           f"{self.rate_flags}, then --resume from the last checkpoint")
        path = checkpoints.best_path(self.output_dir) if best else checkpoints.checkpoint_path(self.output_dir,
                                                                                               self.step)
        tmp = checkpoints.temporary_path(path)
        if self.accelerator.is_main_process:
            checkpoints.discard(tmp)  # left over by a run killed mid-write
        self.accelerator.wait_for_everyone()
        try:
            self.accelerator.save_state(tmp)
            if self.accelerator.is_main_process:
                checkpoints.write_training_state(tmp, self.checkpointed_networks(), self.optimizers)
            self.accelerator.wait_for_everyone()  # every rank's RNG file is in before the checkpoint is published
            if self.accelerator.is_main_process:
                chosen_by = dict(metric=self.config.keep_best, value=self.best) if best else None
                checkpoints.publish(path, self.step, self.config, self.model.config, chosen_by)
        except (OSError, RuntimeError, SafetensorError) as error:  # a full disk, a quota, a vanished directory
            checkpoints.discard(tmp)
            raise AAEError(f"could not write the checkpoint of step {self.step} ({one_line(error, 120)}); its partial "
                           f"files are removed and the previous checkpoints in {os.path.dirname(path)} are intact. "
                           f"Free some space, then continue with --output-dir {self.output_dir} --resume") from error
        if self.accelerator.is_main_process and self.config.keep_checkpoints:
            checkpoints.prune(self.output_dir, self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return path

    def load_checkpoint(self, path):
        self.accelerator.load_state(path)  # every process's RNG state (and the fp16 scaler)
        checkpoints.load_training_state(path, self.checkpointed_networks(), self.optimizers)
        self.step = checkpoints.read_state(path)["step"]
        if self.step > self.config.steps:  # its schedule's horizon would be behind it, its files rewritten as done
            raise ConfigError(f"--steps {self.config.steps} is fewer than the {self.step} steps {path} has trained; "
                              f"pass --steps {self.step} or more")
        if self.step >= self.config.stop_at > 0:
            raise ConfigError(f"--stop-at {self.config.stop_at} is not after the {self.step} steps {path} has trained; "
                              f"pass a later --stop-at, or none to train to --steps {self.config.steps}")
