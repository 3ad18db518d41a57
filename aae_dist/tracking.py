"""Where metrics go: metrics.jsonl in the run directory, and W&B through Accelerate's tracker API.

Only the main process writes. W&B is optional: if it cannot start, training goes on with a warning and
metrics.jsonl is still complete.
"""

import json
import os
import sys
import uuid

from .errors import one_line
from .files import CONFIG_NAME, atomic_path

METRICS_NAME = "metrics.jsonl"
WANDB_ID_NAME = "wandb_run_id.txt"


def parse(line):
    """A metrics.jsonl record, or None for a blank line or one torn by a kill in mid-write."""
    try:
        return json.loads(line) if line.strip() else None
    except ValueError:
        return None


def read_records(run_dir):
    """Every record of the run's metrics.jsonl, in order (a line torn by a kill in mid-write is skipped)."""
    with open(os.path.join(run_dir, METRICS_NAME)) as f:
        return [record for record in map(parse, f) if record]


class Tracker:
    def __init__(self, accelerator, output_dir, config, wandb=False, project=None, entity=None, run_name=None,
                 resume_step=None):
        self.accelerator = accelerator
        self.path = os.path.join(output_dir, METRICS_NAME)
        if accelerator.is_main_process:
            self._keep_records_up_to(resume_step or 0)
        self.wandb = wandb and self._start_wandb(output_dir, config, project, entity, run_name)

    def _keep_records_up_to(self, step):
        """A resumed run recomputes the steps after its checkpoint: drop their old records (or all, if fresh)."""
        kept = []
        if step and os.path.exists(self.path):
            with open(self.path) as f:
                kept = [line for line in f if (record := parse(line)) and record["step"] <= step]
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            f.writelines(kept)

    def _start_wandb(self, output_dir, config, project, entity, run_name):
        import wandb  # here, not at the top: importing it costs a second that runs without W&B need not pay

        # One W&B run per run directory: a resumed run continues the same W&B run.
        id_path = os.path.join(output_dir, WANDB_ID_NAME)
        run_id = open(id_path).read().strip() if os.path.exists(id_path) else uuid.uuid4().hex[:12]
        # W&B waits 90 s for an unreachable server by default; a run should not (WANDB_INIT_TIMEOUT still wins).
        settings = wandb.Settings(init_timeout=float(os.environ.get("WANDB_INIT_TIMEOUT", 30)))
        init_kwargs = dict(dir=output_dir, name=run_name or os.path.basename(os.path.abspath(output_dir)),
                           entity=entity, id=run_id, resume="allow", settings=settings)
        try:
            self.accelerator.init_trackers(project, config=config, init_kwargs={"wandb": init_kwargs})
        except Exception as error:  # no network, no API key, bad entity...: W&B is never worth a lost run
            self.accelerator.trackers = []
            if self.accelerator.is_main_process:
                print(f"aae_dist: warning: W&B could not start ({type(error).__name__}: {one_line(error)}); "
                      f"training continues, metrics go to {self.path} only", file=sys.stderr)
            return False
        if self.accelerator.is_main_process:
            with open(id_path, "w") as f:
                f.write(run_id)
        return True

    def log(self, metrics, step):
        if not self.accelerator.is_main_process:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.wandb:
            self._to_wandb(lambda: self.accelerator.log(metrics, step=step))

    def _to_wandb(self, send):
        try:
            send()
        except Exception as error:  # W&B died mid-run: keep training, keep metrics.jsonl
            self.wandb = False
            print(f"aae_dist: warning: W&B stopped working ({type(error).__name__}: {one_line(error)}); training "
                  f"continues, metrics go to {self.path} only", file=sys.stderr)

    def log_image(self, key, path, step):
        """An image file (e.g. a PNG the run wrote) as a W&B image."""
        if self.wandb and self.accelerator.is_main_process:
            self._to_wandb(lambda: self.accelerator.get_tracker("wandb").log_images({key: [path]}, step=step))

    def finish(self):
        if self.wandb:
            self._to_wandb(self.accelerator.end_training)
            self.wandb = False


def log_to_finished_run(run_dir, summary=None, images=None):
    """Add numbers (to the summary) and image files to the W&B run of a run directory that trained with --wandb.

    For scripts that come after training (evaluate.py, plot.py). A W&B failure is a warning, never an error.
    """
    with open(os.path.join(run_dir, CONFIG_NAME)) as f:
        config = json.load(f)
    id_path = os.path.join(run_dir, WANDB_ID_NAME)
    if not (config.get("wandb") and os.path.exists(id_path)):
        return
    try:
        import wandb

        with open(id_path) as f:
            run = wandb.init(project=config["wandb_project"], entity=config["wandb_entity"], id=f.read().strip(),
                             resume="allow", dir=run_dir)
        if images:
            run.log({key: wandb.Image(path) for key, path in images.items()})
        if summary:
            run.summary.update(summary)
        run.finish()
    except Exception as error:
        print(f"aae_dist: warning: could not log to W&B ({type(error).__name__}: {one_line(error)})",
              file=sys.stderr)
