"""docs/results.md and README.md's results table, generated from the JSON under benchmarks/results/.

    python benchmarks/report.py            # writes docs/results.md and the README block
    python benchmarks/report.py --check    # exits 1, naming the stale file, when either differs from the JSON

Every number is a link to the JSON file it comes from. The README block is the text between the lines
<!-- results:begin --> and <!-- results:end -->. What each section shows is its spec below (which files, which
field, how formatted); the commands and machines are those the JSON or the README recorded with the runs.
"""

import argparse
import json
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
PERFORMANCE_BEGIN, PERFORMANCE_END = "<!-- performance:begin -->", "<!-- performance:end -->"


class ReportError(Exception):
    """A one-line reason the report cannot be made."""


@dataclass
class Num:
    """A number as shown, the JSON file (relative to the results folder) it comes from (None: derived from several),
    and its value before rounding."""
    text: str
    source: str | None
    value: float | None = None


@dataclass
class Table:
    header: list
    rows: list  # cells: a str, a Num, or a list of them


def render(cell, prefix):
    """A cell as Markdown; a Num links to prefix + its JSON's path."""
    parts = cell if isinstance(cell, list) else [cell]
    return "".join(p if isinstance(p, str) else p.text if p.source is None else f"[{p.text}]({prefix}{p.source})"
                   for p in parts)


def markdown(blocks, prefix):
    """Lines of text and Tables as Markdown, a blank line after each."""
    lines = []
    for block in blocks:
        if isinstance(block, Table):
            lines += ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(render(cell, prefix) for cell in row) + " |" for row in block.rows]
        else:
            lines.append(block)
        lines.append("")
    return lines


class Results:
    """Every *.json under the results folder, parsed; fields are read with the file named in any error."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ReportError(f"{self.folder}: no such results folder")
        self.data = {}
        for path in sorted(self.folder.rglob("*.json")):
            try:
                self.data[path.relative_to(self.folder).as_posix()] = json.loads(path.read_text())
            except (ValueError, OSError) as e:
                raise ReportError(f"{path}: broken JSON ({e})") from None

    def glob(self, pattern, missing_ok=False):
        found = [rel for rel in self.data if Path(rel).match(pattern) and rel.count("/") == pattern.count("/")]
        if not found and not missing_ok:
            raise ReportError(f"{self.folder / pattern}: no such JSON")
        return found

    def get(self, rel, key, default=KeyError, number=True, obj=None):
        """The field key of data[rel] (or of obj, a part of it); 'run.seed' reads ['run']['seed']."""
        value = self.data[rel] if obj is None else obj
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                if default is not KeyError:
                    return default
                raise ReportError(f"{self.folder / rel}: unknown JSON, no field {key!r}")
            value = value[part]
        if number and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ReportError(f"{self.folder / rel}: unknown JSON, {key!r} is not a number")
        return value

    def records(self, rel):
        records = self.data[rel]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ReportError(f"{self.folder / rel}: unknown JSON, not a list of benchmark records")
        return records

    def step(self, rel):
        """The training step of an evaluation: its run's trained_steps, else the step its name gives, else its
        run's steps (config.json beside it), else None (the run's end)."""
        step = self.get(rel, "run.trained_steps", None)
        match = re.search(r"step_(\d+)\.json$", rel) or re.search(r"_(\d+)k\.json$", rel)
        if step is None and match:
            step = int(match[1]) * (1000 if match[0].endswith("k.json") else 1)
        config = str(Path(rel).with_name("config.json"))
        if step is None and config in self.data:
            step = self.get(config, "steps")
        return step


@dataclass
class Group:
    """Runs shown together: the JSON files (globs in the results folder), what they are, where and how made."""
    name: str
    files: list
    machine: str | None = None  # None: the JSON's own "machine" field
    command: str | None = None  # None: the JSON's own "command" field; "": not recorded
    runs: dict = field(default_factory=dict)  # a by-step JSON's runs: name -> (labels or clusters, seed)
    headline: dict = field(default_factory=dict)  # Tables 2, 3 and throughput: the README rows it gives
    optional: bool = False  # its JSON may not be there yet (a GPU session's): then the group is left out

    def files_in(self, results):
        return [rel for pattern in self.files for rel in sorted(results.glob(pattern, missing_ok=self.optional))]

    def where(self, results):
        """The machine and the command, as the spec or the group's first JSON records them."""
        rel = self.files_in(results)[0]
        machine = self.machine or results.get(rel, "machine", "machine not recorded", number=False)
        command = results.get(rel, "command", "", number=False) if self.command is None else self.command
        return f"{machine}. " + (f"Command: `{command}`" if command else "Command not recorded.")


def where(results, groups):
    """The list of where and how each group's runs were made."""
    return ["Where and how:", "\n".join(f"- {group.name}: {group.where(results)}" for group in groups
                                       if group.files_in(results))]  # an optional group's JSON may be missing


# ---- the sections' specs -------------------------------------------------------------------------------------

PAPER_T1 = "340 ± 2"  # the AAE paper's Tables 1-3 (arXiv 1511.05644)
PAPER_T2 = {"100": "1.90 ± 0.10", "1000": "1.60 ± 0.08", "all": "0.85 ± 0.02"}
PAPER_T3 = {"16": "9.55", "30": "4.10"}
NOT_IN_PAPER = "not in the paper"
CPU2 = "this project's 2-core CPU"
H200_SHARED = "one H200 shared by ten runs (benchmarks/paper_runs.py), torch 2.11.0+cu130, 2026-11-26"
EVALUATE = "python launch/evaluate.py --checkpoint RUN --data-root ../shared/data --json RUN/eval.json"
PAPER_RUNS = "python benchmarks/paper_runs.py --data-root ../shared/data --runs runs/paper_tables"

TABLE1 = [
    Group("`--preset paper` (moving average 0.999)", ["table1_cpu_long/constant_ema_step_*.json"],
          f"{CPU2}, torch 2.14.1, 2026-12-01, one seed, about 3 h 20 min to 80,000 steps (what ran: the first "
          "24,000 steps of `--lr-schedule step --lr-milestones 26000 --steps 36000`, resumed from step_024000 with "
          "`--lr-schedule constant --steps 120000`: the same steps as the command's)",
          "python launch/train.py --preset paper --checkpoint-every 8000 --data-root ../shared/data --no-download "
          "--output-dir runs/paper; python launch/evaluate.py --checkpoint runs/paper/checkpoints/step_N "
          "--data-root ../shared/data --json runs/paper/eval.json", headline={"seed 0": ""}),
    Group("`--preset paper --seed 1` (so far 80,000 of its 120,000 steps)",
          ["table1_cpu_seed1/paper_seed1_step_*.json"],
          "2-core Intel Xeon (AVX-512), torch 2.14.1, 2026-12-06, one thread beside another run to step 24,424, then "
          "two threads (stopped by SIGTERM at steps 24,424, 24,928 and 41,158, resumed each time; from 41,158 with "
          "`--resume --stop-at 80000`, beside another run from 73,000; about 3 h 40 min in all so far)",
          "aae-train --preset paper --seed 1 --checkpoint-every 8000 --data-root ../shared/data "
          "--no-download --output-dir RUN; aae-evaluate --checkpoint RUN/checkpoints/step_N --data-root "
          "../shared/data --json ...", headline={"seed 1": ""}, optional=True),
    Group("the same run's trained weights", ["table1_cpu_long/constant_trained_step_*.json"],
          "the same run", "python launch/evaluate.py --checkpoint runs/paper/checkpoints/step_N --trained-weights "
          "--data-root ../shared/data --json ..."),
    Group("`--preset paper --ema-decay 0` (keil555/AAE_paddle's recipe)", ["table1_h200/keil_step_*.json"],
          "one H200 shared with nine other runs (benchmarks/paper_runs.py), torch 2.11.0+cu130, 2026-11-26, "
          "one seed (120,000 steps in under 14 min)",
          "python launch/train.py --preset paper --ema-decay 0 --checkpoint-every 20000 --data-root ../shared/data "
          "--no-download --output-dir runs/paper; python launch/evaluate.py --checkpoint "
          "runs/paper/checkpoints/step_N --data-root ../shared/data --json runs/paper/eval.json"),
]


def affine_recipe(labels="1000", flags="", affine=1, steps=16000):
    """The batch-100 affine recipe of 2026-12-03 with `labels` labels and other flags (with 1000 labels
    --preset semi-1000 from 2026-12-03 to 2026-12-05, the recipe of the 1000-label screens)."""
    return (f"--model semi-supervised --num-labels {labels} --affine-consistency {affine} --batch-size 100 --steps "
            f"{steps} --validation-images 5000{flags}")


def screen_command(flags, checkpoint="RUN"):
    """The command of a Table 2 run with a validation split: aae-train FLAGS, then aae-evaluate on `checkpoint`
    (the last step's weights, or RUN/checkpoints/best of --keep-best)."""
    return (f"aae-train {flags} --eval-every 2000 --checkpoint-every 2000 --seed S --data-root ../shared/data "
            f"--no-download --output-dir RUN; aae-evaluate --checkpoint {checkpoint} --data-root ../shared/data "
            "--validation-images 5000 --json ...")


# --preset semi-all as it was on 2026-12-05, with its validation split (since 2026-12-06 it trains on every image)
SEMI_ALL_VALIDATION = "--preset semi-all --validation-images 5000 --keep-best val_error --stop-at 0"
TABLE2 = [
    Group("the recipe at batch 100 with `--affine-consistency 1 --marginal-entropy 3`, 16,000 steps, 5,000 "
          "validation images (`--preset semi-100` since 2026-12-04)",
          ["semi_supervised/cpu_aff_me3_semi100_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-04, one thread a run, three runs side by side (about 85 min a "
          "run)", "aae-train --preset semi-100 --eval-every 2000 --checkpoint-every 2000 --seed S --data-root "
          "../shared/data --no-download --output-dir RUN; aae-evaluate --checkpoint RUN --data-root ../shared/data "
          "--json ...", headline={"100": " (`--preset semi-100`)"}),
    Group("`--preset semi-100 --vat 1` (virtual adversarial training beside the affine term, as in `--preset "
          "semi-1000`; tried 2026-12-05/06, not taken: mean validation error 1.82% against the preset's 1.63%; "
          "every 2,000 steps' errors: `semi_supervised/cpu_semi100_screens_by_step.json`)",
          ["semi_supervised/cpu_semi100_vat1_16000_seed*_eval.json"],
          "one thread a run, beside another run; seed 0: 2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05 (about 57 "
          "min); seeds 1 and 2: 2-core Intel Xeon (AVX-512), torch 2.14.1, 2026-12-05/06 (64 min each)",
          screen_command("--preset semi-100 --vat 1")),
    Group("`--preset semi-1000` (since late 2026-12-05: `--vat 1`, virtual adversarial training, beside the affine "
          "term; every 2,000 steps' errors: `semi_supervised/cpu_semi1000_screens_by_step.json`)",
          ["semi_supervised/cpu_semi1000_vat1_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, beside another run (about 1 h 50 min a "
          "run); seeds 0 and 1 stopped at a session's end near steps 28,300 and 2,300 and resumed from steps 28,000 "
          "and 2,000; what ran: `--preset semi-1000 --vat 1` with the preset of the next row, the same settings",
          screen_command("--preset semi-1000", checkpoint="RUN/checkpoints/best"),
          headline={"1000": " (`--preset semi-1000`)"}),
    Group("`--preset semi-1000 --vat 0` (the preset for most of 2026-12-05: the moving average over 32,000 steps, the "
          "checkpoint of the lowest validation error)", ["semi_supervised/cpu_semi1000_ema32k_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, two or three runs side by side (about "
          "100 min a run); what ran: the runs of the next row, made before --keep-best, which kept every "
          "checkpoint: the one evaluated is the first with the lowest `val_error` in their metrics.jsonl, the one "
          "--keep-best keeps",
          screen_command("--preset semi-1000 --vat 0", checkpoint="RUN/checkpoints/best")),
    Group("the same runs at their last step (`--ema-decay 0.999 --steps 32000` on the 16,000-step recipe; the test "
          "error of every 2,000 steps: `semi_supervised/cpu_semi1000_screens_by_step.json`)",
          ["semi_supervised/cpu_ema_semi1000_32000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread, beside other runs (about 110 min)",
          screen_command(affine_recipe(flags=" --ema-decay 0.999", steps=32000))),
    Group("the 16,000-step recipe with 1000 labels and `--affine-labelled` (the labelled images augmented too; tried "
          "2026-12-05, within the seeds' spread of the recipe)",
          ["semi_supervised/cpu_afflab_semi1000_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-04/05, one thread a run, three to five runs side by side "
          "(about 100 min a run)", screen_command(affine_recipe(flags=" --affine-labelled"))),
    Group("the 16,000-step recipe with 1000 labels and `--ema-decay 0.999` (the weights' moving average; tried "
          "2026-12-05, two seeds: the trained weights of the same runs gave 1.79 and 2.04, validation 1.72 and 1.92: "
          "`semi_supervised/cpu_semi1000_screens_by_step.json`)",
          ["semi_supervised/cpu_ema_semi1000_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, two runs side by side (about 50 min a "
          "run)", screen_command(affine_recipe(flags=" --ema-decay 0.999"))),
    Group("the 16,000-step recipe with 1000 labels and `--affine-consistency 3` (three times the affine term; tried "
          "2026-12-05, one seed, within the recipe's spread)",
          ["semi_supervised/cpu_aff3_semi1000_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread, beside another run (stopped at step 12,494 by "
          "SIGTERM and resumed)", screen_command(affine_recipe(affine=3))),
    Group("`--preset semi-1000 --affine-std 0.15` (moves and tilts half as large again for the affine term; tried "
          "2026-12-05: mean validation error 1.57 against the preset's 1.61, within one seed's spread, so the preset "
          "stays; every 2,000 steps' errors: `semi_supervised/cpu_semi1000_screens_by_step.json`)",
          ["semi_supervised/cpu_semi1000_affstd15_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, beside another run and the test suite "
          "(about 2 h 10 min a run); seeds 0 and 1 stopped at a session's end near step 5,800 and resumed from step "
          "4,000", screen_command("--preset semi-1000 --affine-std 0.15", checkpoint="RUN/checkpoints/best")),
    Group("`--preset semi-1000 --affine-std 0.15 --mean-teacher --ema-decay 0.99` (the consistency target set by a "
          "moving average of decay 0.99; tried 2026-12-05, one seed: 1.88, validation 1.50, without "
          "`--mean-teacher`; every 2,000 steps' errors: `semi_supervised/cpu_semi1000_screens_by_step.json`)",
          ["semi_supervised/cpu_semi1000_affstd15_mt099_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread, beside another run (about 1 h 45 min); stopped "
          "at a session's end near step 17,000 and resumed from step 16,000",
          screen_command("--preset semi-1000 --affine-std 0.15 --mean-teacher --ema-decay 0.99",
                         checkpoint="RUN/checkpoints/best")),
    Group("the 16,000-step recipe with 1000 labels and `--marginal-entropy 3` (tried 2026-12-04; the validation error "
          "chose the recipe without it)",
          ["semi_supervised/cpu_aff_me3_semi1000_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-04, one thread a run, three runs side by side (about 105 min a "
          "run)", screen_command(affine_recipe(flags=" --marginal-entropy 3"))),
    Group("`--preset semi-all` (since 2026-12-06, the final fit: all 60,000 labelled images to step 24,000 of the "
          "32,000-step cosine, where the mean validation error of the three runs below is lowest; every 2,000 steps' "
          "test errors: `semi_supervised/cpu_semiall60k_by_step.json`)",
          ["semi_supervised/cpu_semiall60k_24000_seed*_eval.json"],
          "2-core Intel Xeon (AVX-512), torch 2.14.1, 2026-12-06, one thread a run, two runs side by side (about 1 h "
          "45 min a run); each stopped by SIGTERM and resumed, the same computation (seeds 0 and 1 near step 985, "
          "seed 2 at steps 876, 1,034, 5,251 and 5,484)",
          "aae-train --preset semi-all --checkpoint-every 2000 --seed S --data-root ../shared/data --no-download "
          "--output-dir RUN; aae-evaluate --checkpoint RUN --data-root ../shared/data --json ... (the same as "
          "`--preset semi-all --validation-images 0 --keep-best '' --stop-at 24000 --eval-every 2000` of before)",
          headline={"all": " (`--preset semi-all`)"}),
    Group(f"the validation runs: `{SEMI_ALL_VALIDATION}` "
          "(`--preset semi-all` on 2026-12-05: the cosine over 32,000 steps, the checkpoint of the lowest validation "
          "error; every 2,000 steps' errors: `semi_supervised/cpu_semiall_ema32k_by_step.json`)",
          ["semi_supervised/cpu_semiall_ema32k_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, three runs side by side (about 2 h 20 min "
          "a run); seeds 0 and 1 stopped at a session's end near step 4,470 and resumed from step 4,000",
          screen_command(SEMI_ALL_VALIDATION, checkpoint="RUN/checkpoints/best")),
    Group("the same runs at their last step",
          ["semi_supervised/cpu_semiall_ema32k_32000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread a run, three runs side by side",
          screen_command(SEMI_ALL_VALIDATION)),
    Group(f"`{SEMI_ALL_VALIDATION} --vat 1` (virtual adversarial training beside the affine term; tried "
          "2026-12-05, one seed: a lower validation error than the preset's on the same seed, a higher test error; "
          "every 2,000 steps' errors: `semi_supervised/cpu_semiall_screens_by_step.json`)",
          ["semi_supervised/cpu_semiall_vat1_best_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-05, one thread, beside another run (about 2 h); stopped at step "
          "19,692 by SIGTERM and resumed with --resume",
          screen_command(f"{SEMI_ALL_VALIDATION} --vat 1", checkpoint="RUN/checkpoints/best")),
    Group("the recipe at batch 100 with `--affine-consistency 1 --ema-decay 0.999`, 16,000 steps, 5,000 validation "
          "images, all labels (`--preset semi-all` in the first half of 2026-12-05)",
          ["semi_supervised/cpu_semiall_b100_aff_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-04", screen_command(affine_recipe("all", " --ema-decay 0.999"))),
    Group("the recipe at batch 100 with `--affine-consistency 1`, 16,000 steps, 5,000 validation images (with 1000 "
          "labels `--preset semi-1000` from 2026-12-03 to 2026-12-05)",
          ["semi_supervised/cpu_aff_semi*_16000_seed*_eval.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-03, one thread a run, three or four runs side by side (about "
          "60 min a run)", screen_command(affine_recipe("N"))),
    Group("the recipe (batch 400, marginal D's), `--eval-every` at the last step all its runs logged",
          ["semi_supervised/h200/recipe_b400_marginal_test_error_by_step.json"],
          runs={"s0": ("100", 0), "s1": ("100", 1), "s2": ("100", 2), "l1000": ("1000", 0), "all": ("all", 0)}),
    Group("the recipe with `--ema-decay 0.999 --steps 16000`, the moving average (`--preset semi-all` until "
          "2026-12-05)",
          ["semi_supervised/cpu_semiall_ema_eval_16k.json"], f"{CPU2}, 2 threads, 2026-12-01 (95 min)",
          "python launch/train.py --model semi-supervised --num-labels all --steps 16000 --ema-decay 0.999 "
          "--eval-every 2000 --checkpoint-every 2000 --data-root ../shared/data --no-download --output-dir "
          "runs/semiall; python launch/evaluate.py --checkpoint runs/semiall --tstr-samples 10000 --json semiall.json"),
    Group("the recipe on the CPU, stopped at step 18,304 of 35,000",
          ["semi_supervised/cpu_recipe_semi100_eval_18k.json"], f"{CPU2}, 2 threads, 2026-11-26 (78 min)",
          "python launch/train.py --model semi-supervised --num-labels 100 --eval-every 2000 --checkpoint-every 2000 "
          "--data-root ../shared/data --no-download --output-dir runs/semi100; python launch/evaluate.py "
          "--checkpoint runs/semi100/checkpoints/step_018000 --tstr-samples 10000"),
    Group("the previous recipe (`--batch-size 100 --label-to-discriminator`, as many steps as fitted)",
          ["semi_supervised/h200/*_eval.json"], H200_SHARED, PAPER_RUNS),
    Group("the previous recipe on the CPU", ["semi_supervised/semi*_eval_*k.json"], "2-core AMD EPYC, one thread, "
          "2026-11-26 (the runs' flags: semi_supervised/semi100_config.json, semi1000_config.json)",
          f"python launch/train.py --model semi-supervised --num-labels N; {EVALUATE}"),
]

TABLE3 = [
    Group("the recipe of 2026-12-01 (8,000 steps)", ["clustering_cpu/clu16_recipe_seed*_eval.json"],
          "2-core AMD EPYC, one thread per run, two runs side by side, torch 2.14.1, 2026-12-01 (about 25 min a run)",
          "python launch/train.py --model clustering --clusters 16 [--seed S] --data-root ../shared/data "
          f"--no-download --output-dir RUN; {EVALUATE}", headline={"16": ""}),
    Group("the recipe of 2026-12-01 with `--clusters 30`", ["clustering_cpu/clu30_recipe_seed*_eval.json"],
          "2-core AMD EPYC CPU, one thread, 2026-12-01 (seed 0) and 2026-12-03 (seeds 1 and 2, two or three runs "
          "side by side, about 24 min a run)",
          "aae-train --model clustering --clusters 30 --seed S --data-root ../shared/data --no-download "
          "--output-dir RUN; aae-evaluate --checkpoint RUN --data-root ../shared/data --validation-images 5000 "
          "--json ..."),
    Group("the recipe with `--clusters 30 --steps 16000` (chosen over 8,000 steps by the validation error of "
          "seeds 1 and 2: 3.50% against 4.47%)", ["clustering_cpu/clu30_16k_seed*_eval.json"],
          "2-core AMD EPYC CPU, one thread, 2026-12-03, two or three runs side by side (62-78 min a run)",
          "aae-train --model clustering --clusters 30 --steps 16000 --seed S --checkpoint-every 2000 --data-root "
          "../shared/data --no-download --output-dir RUN; aae-evaluate --checkpoint RUN --data-root ../shared/data "
          "--validation-images 5000 --json ...", headline={"30": ""}),
    Group("the previous recipe (2 x 3000 units, constant rate)", ["clustering_h200/clu16_h3000_eval.json"],
          H200_SHARED, "python launch/train.py --model clustering --clusters 16 --hidden 3000 --marginal-entropy 0 "
          f"--affine-consistency 0 --lr-schedule constant --steps 160000; {EVALUATE}"),
    Group("the previous recipe at 1000 units", ["clustering_h200/clu16_eval.json", "clustering_h200/clu30_eval.json"],
          H200_SHARED, PAPER_RUNS),
]

SUPERVISED = [
    Group("the recipe (`--model supervised`)", ["supervised/eval_step_*.json", "supervised/eval_final.json"],
          "2-core Intel Xeon CPU with AMX, torch 2.14.1, 2026-11-26, alone on the machine (23 min 43 s)",
          "python launch/train.py --model supervised --data-root ../shared/data --no-download --output-dir "
          "runs/supervised --checkpoint-every 5000 --log-every 500 --sample-every 5000; python launch/evaluate.py "
          "--checkpoint runs/supervised[/checkpoints/step_N] --data-root ../shared/data --json ..."),
    Group("the recipe, seeds 1 and 2", ["supervised/eval_final_seed*.json"],
          "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-03, one thread beside other runs (about 65 min "
          "a run)",
          "aae-train --model supervised --seed S --data-root ../shared/data --no-download --output-dir RUN "
          "--checkpoint-every 5000 --log-every 500; aae-evaluate --checkpoint RUN --data-root ../shared/data --json ..."),
    Group("the previous recipe (`--lr-recon 1e-4`, 30,000 steps)", ["supervised/recipe_v1_30k/eval_*.json"],
          "2-core CPU, torch 2.14.1, 2026-11-26 (32 min 13 s)",
          f"python launch/train.py --model supervised --lr-recon 1e-4 --steps 30000; {EVALUATE}"),
]

DIM_REDUCTION_COMMAND = ("aae-train --model dim-reduction --num-labels 1000 --z-dim N --steps 8000 --checkpoint-every "
                         "1000 --data-root ../shared/data --no-download --output-dir RUN; aae-evaluate --checkpoint RUN "
                         "--data-root ../shared/data --json ...")
DIM_REDUCTION = [Group("the recipe (`--model dim-reduction`), 1000 labels",
                       ["dim_reduction/dimred*_seed*_eval.json"],
                       "2-core AMD EPYC CPU, torch 2.14.1, 2026-12-03, one thread per run, two or three runs side by "
                       "side (about an hour a run)", DIM_REDUCTION_COMMAND, headline={"2": "", "10": ""})]
NOT_VERIFIED = {"2": "not verified", "10": "not verified"}  # the paper's figures for these settings

THROUGHPUT = [  # headline: the README's ratios, {what: the record's fields} (else impl aae_dist, batch 100, eager)
    Group("CPU, batch 100 and 1000", ["throughput_cpu.json"], "this project's CI machine, 2026-12-03, alone on it",
          "python benchmarks/throughput.py --batch-sizes 100,1000 --precision no,bf16 --seed-baseline --rounds 3 "
          "--steps 20 --warmup 10 --data-root ../shared/data --json benchmarks/results/throughput_cpu.json",
          headline={"fp32": {"precision": "no"}, "bf16": {"precision": "bf16"}}),
    Group("CPU, batch 100, each variant against its own floor", ["throughput_cpu_variant_*.json"],
          "the same machine, the same hour, one process per variant",
          "python benchmarks/throughput.py --model MODEL --batch-sizes 100 --precision no --rounds 3 --steps 20 "
          "--warmup 5 --data-root ../shared/data --json benchmarks/results/throughput_cpu_variant_MODEL.json"),
    Group("CPU, another machine: batch 100 and 1000", ["throughput_cpu_xeon.json"],
          "a 2-core Intel Xeon with AVX-512 and AMX (a later session's machine), 2026-12-06, alone on it",
          "python benchmarks/throughput.py --batch-sizes 100,1000 --precision no,bf16 --seed-baseline --rounds 3 "
          "--steps 20 --warmup 10 --data-root ../shared/data --json benchmarks/results/throughput_cpu_xeon.json"),
    Group("CPU, another machine: batch 100, each variant against its own floor",
          ["throughput_cpu_xeon_variant_*.json"], "the same Xeon, the same hour, one process per variant",
          "python benchmarks/throughput.py --model MODEL --batch-sizes 100 --precision no --rounds 3 --steps 20 "
          "--warmup 5 --data-root ../shared/data --json benchmarks/results/throughput_cpu_xeon_variant_MODEL.json"),
    Group("H200, CUDA graph off and on", ["throughput_gpu.json"], "2026-11-26",
          "python benchmarks/throughput.py --batch-sizes 100,4096 --precision no,bf16 --cuda-graph off,on "
          "--seed-baseline --steps 50 --rounds 3 --data-root DATA_ROOT --json benchmarks/results/throughput_gpu.json",
          headline={"fp32, CUDA graph": {"precision": "no", "cuda_graph": True}}),
    Group("H200, batch 100, compile off and on under the graph", ["throughput_gpu_b100.json"],
          "2026-11-26, a later call on another H200",
          "python benchmarks/throughput.py --batch-sizes 100 --precision no,bf16 --compile off,on --cuda-graph on "
          "--seed-baseline --steps 50 --rounds 3 --data-root DATA_ROOT "
          "--json benchmarks/results/throughput_gpu_b100.json",
          headline={"bf16, compile, CUDA graph": {"precision": "bf16", "compile": True, "cuda_graph": True}}),
    Group("H200, the same grid with torch.compile on", ["throughput_gpu_compile.json"],
          "2026-11-26, the process after throughput_gpu.json's on the same machine, no seed loop", ""),
    Group("H200, the semi-supervised AAE", ["throughput_gpu_semi.json"], "2026-11-26", ""),
    Group("CPU, conv nets on 12,000 RGB 32x32 images", ["throughput_cpu_conv32*.json"],
          "2-core Intel Xeon with AMX, 2026-11-26",
          "python benchmarks/throughput.py --dataset imagefolder --data-root SHAPES32 --arch conv --batch-sizes "
          "100,1000 --precision no,bf16 --steps 10 --rounds 2 --warmup 3 [--data-on-device no] --json ..."),
    Group("CPU, the MLP on streamed MNIST", ["throughput_cpu_mlp_streamed.json"],
          "2-core Intel Xeon with AMX, 2026-11-26, `--data-on-device no`", ""),
]

LEVERS = [
    Group("CPU, batch 100: each lever undone in turn", ["levers_cpu.json"], None,
          "python benchmarks/levers.py --data-root ../shared/data --rounds 5 --steps 20 --json "
          "benchmarks/results/levers_cpu.json"),
    Group("GPU, batch 100, CUDA graph: each lever undone in turn", ["levers_gpu.json"], None,
          "bash benchmarks/gpu_suite.sh DATA_ROOT OUT_DIR (python benchmarks/levers.py --data-root DATA_ROOT "
          "--rounds 5 --steps 50 --json OUT_DIR/levers_gpu.json)", optional=True),
]

SCALING_FLAGS = "--batch-sizes 1000 --threads 1 --rounds 2 --steps 8 --warmup 3 --data-root ../shared/data --json"
SCALING = [
    Group("1 process x 1 thread", ["scaling_1proc.json"], "this project's CI machine, 2026-12-03",
          "ACCELERATE_USE_CPU=1 accelerate launch --num_processes 1 benchmarks/throughput.py "
          f"{SCALING_FLAGS} benchmarks/results/scaling_1proc.json"),
    Group("2 processes x 1 thread (DDP, gloo)", ["scaling_2proc.json"], "the same machine, the same hour",
          "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 benchmarks/throughput.py "
          f"{SCALING_FLAGS} benchmarks/results/scaling_2proc.json --scaling-baseline "
          "benchmarks/results/scaling_1proc.json"),
    Group("another machine: 1 process x 1 thread", ["scaling_xeon_1proc.json"],
          "a 2-core Intel Xeon (a later session's machine), 2026-12-06",
          "ACCELERATE_USE_CPU=1 accelerate launch --num_processes 1 benchmarks/throughput.py "
          f"{SCALING_FLAGS} benchmarks/results/scaling_xeon_1proc.json"),
    Group("another machine: 2 processes x 1 thread (DDP, gloo)", ["scaling_xeon_2proc.json"],
          "the same Xeon, the same hour",
          "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes 2 benchmarks/throughput.py "
          f"{SCALING_FLAGS} benchmarks/results/scaling_xeon_2proc.json --scaling-baseline "
          "benchmarks/results/scaling_xeon_1proc.json"),
]

RECORD_COLUMNS = [  # a benchmark record's configuration: (header, its text)
    ("impl", lambda r: r.get("impl", "")),
    ("model", lambda r: r.get("model") or "vanilla"),
    ("arch", lambda r: r.get("arch") or "mlp"),
    ("batch", lambda r: str(r.get("batch_size", ""))),
    ("precision", lambda r: r.get("precision", "")),
    ("compile", lambda r: {True: "on", False: "off"}.get(r.get("compile"), "")),
    ("graph", lambda r: {True: "on", False: "off"}.get(r.get("cuda_graph"), "")),
    ("data", lambda r: {"no": "streamed"}.get(r.get("data_on_device"), "device")),
    ("processes x threads", lambda r: f"{r.get('world_size', 1)} x {r.get('threads', '')}"),
]
MEASURED = [  # a benchmark record's numbers: (header, field, format); empty where a record has no such field
    ("step samples/s", "step_samples_per_s", "{:.0f}"),
    ("step ms (median)", "step_ms_median", "{:.1f}"),
    ("batch samples/s", "batch_samples_per_s", "{:.0f}"),
    ("floor fraction", "floor_fraction", "{:.2f}"),
    ("cold floor fraction", "cold_floor_fraction", "{:.2f}"),
    ("scaling efficiency", "scaling_efficiency", "{:.2f}"),
]


# ---- how a group's JSON becomes rows -------------------------------------------------------------------------

def percent(x, rel=None):
    """A fraction as a percentage; with rel, a Num of that file."""
    return f"{100 * x:.2f}" if rel is None else Num(percent(x), rel, x)


def seed_values(results, group, key_field):
    """(key, seed, step, Num) of each run: one evaluation JSON each (its validation error beside the test error
    where it has one), or the named runs of a by-step JSON."""
    if not group.runs:
        for rel in group.files_in(results):
            key = str(results.get(rel, key_field, number=False))
            error = percent(results.get(rel, "test_error"), rel)
            validation = results.get(rel, "validation_error", None)
            if validation is not None:
                error.text += f" (validation {percent(validation)})"
            yield key, results.get(rel, "run.seed"), results.step(rel), error
        return
    (rel,) = group.files_in(results)
    by_step = [results.get(rel, f"runs.{run}.test_error_by_step", number=False) for run in group.runs]
    common = all(isinstance(errors, dict) for errors in by_step) and set.intersection(
        *({step for step in errors if step.isdigit()} for errors in by_step))
    if not common:
        raise ReportError(f"{results.folder / rel}: unknown JSON, no step that all of {list(group.runs)} logged")
    step = max(common, key=int)
    for run, (key, seed) in group.runs.items():
        yield key, seed, int(step), percent(results.get(rel, f"runs.{run}.test_error_by_step.{step}"), rel)


def mean_sd(nums, spell_out=False):
    """Mean and sd (n-1) of Nums, linked to their file where they share one; spell_out: the values beside it."""
    values = [100 * n.value for n in nums]
    source = nums[0].source if len({n.source for n in nums}) == 1 else None
    mean, sd = Num(f"{statistics.mean(values):.2f}", source), Num(f"{statistics.stdev(values):.2f}", source)
    if spell_out:
        return [mean, " (mean of "] + joined([[n] for n in nums]) + [")"], sd
    return mean, sd


def per_seed(results, groups, key_field, what, paper, title):
    """Tables 2 and 3: a row per group and key (labels, clusters), each seed's error, mean and sd, the paper's."""
    runs = [(g, *value) for g in groups for value in seed_values(results, g, key_field)]
    seeds = sorted({seed for _, _, seed, _, _ in runs})
    rows, headlines = [], []
    for group in groups:
        keys = {k for g, k, *_ in runs if g is group}
        for key in [k for k in paper if k in keys] + sorted(keys - set(paper)):
            mine = [(seed, step, num) for g, k, seed, step, num in runs if g is group and k == key]
            by_seed, steps = {seed: num for seed, _, num in mine}, [step for _, step, _ in mine]
            mean, sd = mean_sd(list(by_seed.values())) if len(mine) > 1 else ("", "")
            rows.append([group.name, key, f"{min(steps):,}" + (f"-{max(steps):,}" if max(steps) > min(steps) else "")]
                        + [by_seed.get(seed, "") for seed in seeds] + [mean, sd, paper.get(key, "")])
            if key in group.headline:
                ours = mean_sd(list(by_seed.values()), spell_out=True)[0] if len(mine) > 1 else mine[0][2]
                headlines.append((list(paper).index(key), f"{title}, {key} {what}{group.headline[key]}", ours,
                                  paper[key]))
    # the README's rows in the paper's order, whichever group gives them
    headlines = [h[1:] for h in sorted(headlines, key=lambda h: h[0])]
    return Table(["runs", what, "step"] + [f"seed {s}" for s in seeds] + ["mean", "sd", "the paper"], rows), headlines


STRUCTURED = {"parzen_validation_ll"}  # fields that are not one number (the validation LL of every sigma)


def per_file(results, groups, columns):
    """A row per evaluation JSON of each group, by step: the group, the step, each column's formatted fields."""
    rows = []
    for group in groups:
        for rel in sorted(group.files_in(results), key=lambda rel: results.step(rel) or float("inf")):
            step = results.step(rel)
            rows.append([group.name, f"{step:,}" if step else "end of run"]
                        + [Num(fmt(*(results.get(rel, k, number=k not in STRUCTURED) for k in keys)), rel)
                           for _, keys, fmt in columns])
    return Table(["run", "step"] + [header for header, _, _ in columns], rows)


def seed_ratio(results, rel, record):
    """A record's step samples/s against the seed loop's at the same batch size in the same file."""
    seeds = [r for r in results.records(rel)
             if r.get("impl") == "seed" and r.get("batch_size") == record.get("batch_size")]
    if record.get("impl") == "seed" or not seeds:
        return ""
    ours, seed = (results.get(rel, "step_samples_per_s", obj=r) for r in (record, seeds[0]))
    if seed <= 0:
        raise ReportError(f"{results.folder / rel}: unknown JSON, the seed loop's step_samples_per_s is {seed}")
    return Num(f"{ours / seed:.2f}x", rel)


def per_record(results, groups):
    """A subsection per group (the machine its records name, the command, a row per record), and the ratios to
    the seed loop of the records its headline names, by group."""
    blocks, headlines = [], {}
    for group in groups:
        rows, machines, ratios = [], set(), []
        for rel in group.files_in(results):
            for r in results.records(rel):
                machines.add(f"{r.get('device_name')} ({r.get('device')}), torch {r.get('torch_version')}")
                rows.append([text(r) for _, text in RECORD_COLUMNS] + [seed_ratio(results, rel, r)]
                            + [Num(fmt.format(results.get(rel, key, obj=r)), rel) if key in r else ""
                               for _, key, fmt in MEASURED])
                for flags, match in group.headline.items():
                    wanted = {"impl": "aae_dist", "batch_size": 100, "compile": False, "cuda_graph": False, **match}
                    if all(r.get(k, False) == v for k, v in wanted.items()):
                        ratios.append([seed_ratio(results, rel, r), f" ({flags})"])
        if len(ratios) != len(group.headline):
            raise ReportError(f"{results.folder / group.files[0]}: unknown JSON, no record for {list(group.headline)}")
        headlines[group.name] = ratios
        header = [h for h, _ in RECORD_COLUMNS] + ["step vs the seed loop"] + [h for h, _, _ in MEASURED]
        shown = [i for i in range(len(header)) if any(row[i] for row in rows)]  # columns that say something
        blocks += [f"### {group.name}", f"{'; '.join(sorted(machines))}; {group.where(results)}",
                   Table([header[i] for i in shown], [[row[i] for i in shown] for row in rows])]
    return blocks, headlines


def lever_tables(results, groups):
    """A subsection per group of benchmarks/levers.py records: each lever undone, its step time and saving."""
    blocks = []
    for group in groups:
        files = group.files_in(results)
        if not files:  # an optional group whose JSON is not there yet
            continue
        rows = []
        for rel in files:
            for r in results.records(rel):
                saving = r.get("saving_ms")
                rows.append(["none (all levers)" if saving is None else r["lever"],
                             Num(f"{results.get(rel, 'step_ms_median', obj=r):.1f}", rel),
                             "" if saving is None else Num(f"{results.get(rel, 'saving_ms', obj=r):.1f}", rel),
                             Num(f"{results.get(rel, 'samples_per_s', obj=r):.0f}", rel), r.get("predicted") or ""])
        first = results.records(files[0])[0]
        machine = (f"{first.get('device_name')} ({first.get('device')}), torch {first.get('torch_version')}, "
                   f"{first.get('threads')} threads, {first.get('rounds')} x {first.get('steps')} steps each, "
                   f"{first.get('date')}")
        blocks += [f"### {group.name}", f"{machine}. Command: `{group.command}`",
                   Table(["lever undone", "step ms", "what the lever saves (ms)", "samples/s",
                          "predicted saving (written before the lever was built)"], rows)]
    return blocks


def joined(cells, separator=", "):
    """Cells (lists of parts) as one cell, separator between them."""
    return [part for cell in cells for part in [separator] + cell][1:]


# ---- the page and the README block ---------------------------------------------------------------------------

@dataclass
class Section:
    title: str
    intro: str
    blocks: list
    headlines: list  # the README rows: (what, ours, the paper)

    def anchor(self):
        """GitHub's anchor of the section's heading."""
        return re.sub(r"[^\w\- ]", "", self.title.lower()).replace(" ", "-")


def build(results, performance_link):
    """The results page's sections, and the performance page's generated blocks (the throughput tables, the
    levers, the DDP scaling), which the results page's throughput section links to."""
    t1 = per_file(results, TABLE1, [("Parzen LL (nats) ± se", ("parzen_ll", "parzen_ll_stderr"),
                                     "{:.1f} ± {:.1f}".format),
                                    ("validation LL (nats)", ("parzen_validation_ll",),
                                     lambda by_sigma: f"{max(by_sigma.values()):.1f}")])
    # each seed's headline checkpoint is the one its validation images choose, never the test set
    chosen = {seed: max(rows, key=lambda row: float(row[3].text)) for group in TABLE1 for seed in group.headline
              if (rows := [row for row in t1.rows if row[0] == group.name])}
    t1_steps = ", ".join(f"{seed}: {row[1]} steps" for seed, row in chosen.items())
    figures = [row[2] for row in chosen.values()]
    t1_figure = figures[0] if len(figures) == 1 else [
        Num(f"{statistics.mean(results.get(n.source, 'parzen_ll') for n in figures):.1f}", None),
        " (mean of "] + joined([[n] for n in figures]) + [")"]
    t2, t2_headlines = per_seed(results, TABLE2, "run.num_labels", "labels", PAPER_T2,
                                "Table 2: semi-supervised error (%)")
    t3, t3_headlines = per_seed(results, TABLE3, "run.clusters", "clusters", PAPER_T3, "Table 3: clustering error (%)")
    sup = per_file(results, SUPERVISED, [("label consistency (%)", ("label_consistency",), percent),
                                         ("TSTR accuracy (%)", ("tstr_accuracy",), percent),
                                         ("the classifier trained on real data (%)", ("trtr_accuracy",), percent),
                                         ("Parzen LL (nats)", ("parzen_ll",), "{:.1f}".format)])
    final = [row for row in sup.rows if row[0] == SUPERVISED[0].name][-1]
    # the README's supervised rows: the mean over the seeds' final weights (the recipe's groups: seed 0, seeds 1 and 2)
    finals = [rel for group in SUPERVISED[:2] for rel in group.files_in(results) if "final" in rel]
    seeds_mean = {key: mean_sd([percent(results.get(rel, key), rel) for rel in finals], spell_out=True)[0]
                  for key in ("tstr_accuracy", "label_consistency")}
    dimred, dimred_headlines = per_seed(results, DIM_REDUCTION, "run.z_dim", "dimensions", NOT_VERIFIED,
                                        "dimensionality reduction: test error (%), 1000 labels")
    dimred_runs = per_file(results, DIM_REDUCTION, [("z dimensions", ("run.z_dim",), str),
                                                    ("seed", ("run.seed",), str),
                                                    ("test error (%)", ("test_error",), percent),
                                                    ("label consistency of its samples (%)", ("label_consistency",),
                                                     percent)])
    throughput, ratios = per_record(results, THROUGHPUT)
    scaling, _ = per_record(results, SCALING)
    # the README's ratios: those the groups' headlines name, the CPU's and the H200's
    cpu, gpu = ([ratio for group in THROUGHPUT if group.name.startswith(machine) for ratio in ratios[group.name]]
                for machine in ("CPU", "H200"))
    return [
        Section("Table 1: Parzen log-likelihood", "Every checkpoint of the headline runs through `launch/evaluate.py` "
                "(10,000 samples, the MNIST test set; `python benchmarks/parzen_table.py FOLDER` prints the same by "
                "run and step). The window's sigma and the headline checkpoint are chosen by the validation LL, the "
                "likelihood of training images 50,000-50,999 (the paper's protocol), never by the test set. The other "
                "recipes tried: the other `table1_*` folders and `paper_preset/`.",
                [t1] + where(results, TABLE1),
                [(f"Table 1: Parzen log-likelihood (nats), `--preset paper`, the checkpoint of the best validation "
                  f"LL ({t1_steps})", t1_figure, PAPER_T1)]),
        Section("Table 2: semi-supervised classification", "Test error (%) on the 10,000 MNIST test images "
                "(`test_error`), by seed; mean and sd (n-1) where several seeds ran.",
                [t2] + where(results, TABLE2), t2_headlines),
        Section("Table 3: unsupervised clustering", "Test error (%) on the 10,000 MNIST test images, each cluster "
                "named by the paper's rule (`test_error`), by seed; mean and sd (n-1) where several seeds ran; in "
                "brackets the error on the last 5,000 training images, their clusters named on the others "
                "(`validation_error`), by which recipes are chosen.",
                [t3] + where(results, TABLE3), t3_headlines),
        Section("The supervised AAE", "`launch/evaluate.py` on the class-conditional model (TSTR: 60,000 balanced "
                "samples train the evaluation classifier for 2 epochs, tested on the 10,000 real test images). Its "
                "Parzen numbers are of class-conditional samples: not comparable with Table 1.",
                [sup] + where(results, SUPERVISED),
                [(f"the supervised AAE: TSTR accuracy (%), {final[1]} steps, seeds 0-{len(finals) - 1}",
                  seeds_mean["tstr_accuracy"], NOT_IN_PAPER),
                 ("the supervised AAE: label consistency (%)", seeds_mean["label_consistency"], NOT_IN_PAPER)]),
        Section("Dimensionality reduction", "The paper's section on dimensionality reduction: `--model "
                "dim-reduction`, the test error of its class head on the 10,000 MNIST test images; the 2-D run's "
                "representation of the test set: `dim_reduction/representation.png`. By seed, mean and sd (n-1); "
                "then every run with the label consistency of its class-conditional samples. The paper's own "
                "figures for these settings were not verified here.",
                [dimred, dimred_runs] + where(results, DIM_REDUCTION), dimred_headlines),
        Section("Throughput", "`benchmarks/throughput.py`: the training step's samples/s, its ratio to the "
                "lecture's loop timed in the same run (`--seed-baseline`), and the fraction of the machine's floor "
                f"where it was measured. Every table, the levers and the DDP scaling: [performance.md]"
                f"({performance_link}#measured).", [],
                [("throughput, step vs the seed loop, CPU, batch 100", joined(cpu), NOT_IN_PAPER),
                 ("throughput, step vs the seed loop, H200, batch 100", joined(gpu), NOT_IN_PAPER)]),
    ], throughput + lever_tables(results, LEVERS) + ["### DDP scaling", "`benchmarks/throughput.py` under "
                                                     "`accelerate launch`: samples/s summed over the processes; "
                                                     "scaling efficiency: aggregate / (N x one process)."] + scaling


def docs_page(sections, prefix):
    blocks = ["# Results", "Generated by `python benchmarks/report.py` from the JSON under `benchmarks/results/`; "
              "do not edit by hand (`python benchmarks/report.py --check` fails when this page is stale). Every "
              "number links to the JSON file it comes from; a mean over several files stands unlinked beside "
              "them."]
    for s in sections:
        blocks += [f"## {s.title}", s.intro]
        blocks += [Table(["result", "ours", "the paper"], [list(h) for h in s.headlines])] if s.headlines else []
        blocks += s.blocks
    return "\n".join(markdown(blocks, prefix)).rstrip() + "\n"


def readme_block(sections, prefix, docs_link):
    rows = [[what, ours, paper, f"[{s.title.split(':')[0]}]({docs_link}#{s.anchor()})"]
            for s in sections for what, ours, paper in s.headlines]
    return "\n".join(markdown([Table(["result", "ours", "the paper", "details"], rows)], prefix)).rstrip() + "\n"


def replace_block(text, block, path, begin=BEGIN, end=END):
    """text with the lines between begin and end replaced by block."""
    lines = text.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip() in (begin, end)]
    if len(marks) != 2 or lines[marks[0]].strip() != begin:
        raise ReportError(f"{path} has no {begin} ... {end} lines to put the generated tables between")
    return "".join(lines[:marks[0] + 1]) + block + "".join(lines[marks[1]:])


def relative(target, start):
    """The link from a file in folder start to target."""
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page or the README block is stale")
    parser.add_argument("--results", default=ROOT / "benchmarks" / "results", type=Path, help="the JSON's folder")
    parser.add_argument("--docs", default=ROOT / "docs" / "results.md", type=Path, help="the page to write")
    parser.add_argument("--readme", default=ROOT / "README.md", type=Path, help="the README with the block")
    parser.add_argument("--performance", default=ROOT / "docs" / "performance.md", type=Path,
                        help="the performance page, whose measured tables go between its markers")
    args = parser.parse_args(argv)
    try:
        sections, measured = build(Results(args.results), relative(args.performance, args.docs.parent))
        page = docs_page(sections, relative(args.results, args.docs.parent) + "/")
        block = readme_block(sections, relative(args.results, args.readme.parent) + "/",
                             relative(args.docs, args.readme.parent))
        measured = "\n".join(markdown(measured, relative(args.results, args.performance.parent) + "/")).rstrip() + "\n"
        old_page = args.docs.read_text() if args.docs.exists() else None
        if not args.check and old_page != page:  # the page first: it does not need the README's markers
            args.docs.parent.mkdir(parents=True, exist_ok=True)
            args.docs.write_text(page)
        # the README's and the performance page's blocks, between their markers
        updates = [(args.readme, block, BEGIN, END), (args.performance, measured, PERFORMANCE_BEGIN, PERFORMANCE_END)]
        updates = [(path, path.read_text(), replace_block(path.read_text(), text, path, begin, end))
                   for path, text, begin, end in updates]
        if args.check:
            for path, stale in [(args.docs, old_page != page)] + [(path, new != old) for path, old, new in updates]:
                if stale:
                    raise ReportError(f"{path} is stale (differs from the JSON): run python benchmarks/report.py")
        for path, old, new in updates:
            if not args.check and new != old:
                path.write_text(new)
    except (ReportError, OSError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, ValueError) as e:  # JSON of a shape the checks above did not foresee
        print(f"report.py: unknown JSON under {args.results}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
