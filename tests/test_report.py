"""benchmarks/report.py: docs/results.md and the README's results table come from benchmarks/results/*.json."""

import json
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

RESULTS = REPO / "benchmarks" / "results"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def report(*args):
    """Run benchmarks/report.py; return (exit status, stderr)."""
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "report.py"), *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stderr


@pytest.fixture
def copy(tmp_path):
    """A copy of the results' JSON, a README with the markers and text around them, and where the page goes."""
    for path in RESULTS.rglob("*.json"):
        target = tmp_path / "results" / path.relative_to(RESULTS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nText before.\n\n{BEGIN}\nan old table\n{END}\n\nText after.\n")
    performance = tmp_path / "docs" / "performance.md"
    performance.parent.mkdir()
    performance.write_text("# Performance\n\n## Measured\n\n<!-- performance:begin -->\n<!-- performance:end -->\n")
    paths = {"results": tmp_path / "results", "docs": tmp_path / "docs" / "results.md", "readme": readme,
             "performance": performance}
    paths["args"] = [f"--{name}={paths[name]}" for name in ("results", "docs", "readme", "performance")]
    return paths


def block(readme):
    text = Path(readme).read_text()
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)]


def test_the_committed_page_and_readme_block_are_up_to_date():
    if BEGIN not in (REPO / "README.md").read_text():
        pytest.skip(f"README.md has no {BEGIN} line yet: its block cannot be checked")
    status, err = report("--check")
    assert status == 0, err


def test_a_changed_number_makes_check_fail_and_a_rewrite_makes_it_pass(copy):
    assert report(*copy["args"]) == (0, "")
    assert report("--check", *copy["args"]) == (0, "")
    final = copy["results"] / "supervised" / "eval_final.json"
    evaluation = json.loads(final.read_text())
    assert f"[{100 * evaluation['tstr_accuracy']:.2f}](" in block(copy["readme"])
    evaluation["tstr_accuracy"] = 0.9123
    final.write_text(json.dumps(evaluation))
    status, err = report("--check", *copy["args"])
    assert status == 1 and err.count("\n") == 1 and f"{copy['docs']} is stale" in err
    assert report(*copy["args"]) == (0, "")
    assert report("--check", *copy["args"]) == (0, "")
    link = "[91.23](../results/supervised/eval_final.json)"
    assert link in copy["docs"].read_text() and link.replace("../", "") in block(copy["readme"])
    copy["readme"].write_text(copy["readme"].read_text().replace("91.23", "91.24"))  # a hand edit of the block
    status, err = report("--check", *copy["args"])
    assert status == 1 and err.count("\n") == 1 and f"{copy['readme']} is stale" in err


def test_the_readme_block_is_replaced_between_the_markers_and_the_text_around_kept(copy):
    assert report(*copy["args"]) == (0, "")
    text = copy["readme"].read_text()
    assert text.startswith(f"# Title\n\nText before.\n\n{BEGIN}\n| result | ours | the paper | details |\n")
    assert text.endswith(f"|\n{END}\n\nText after.\n") and "an old table" not in text
    rows = [line for line in block(copy["readme"]).splitlines() if line.startswith("| ") and "---" not in line]
    wanted = ["Table 1", "Table 2", "100 labels", "1000 labels", "all labels", "Table 3", "16 clusters",
              "30 clusters", "TSTR", "CPU, batch 100", "H200, batch 100"]
    assert all(any(w in row for row in rows[1:]) for w in wanted)
    # every link of the block and of the page leads to a file (and the block's sections to headings of the page)
    page = copy["docs"].read_text()
    for source, text in [(copy["readme"], block(copy["readme"])), (copy["docs"], page),
                         (copy["performance"], copy["performance"].read_text())]:
        for target in re.findall(r"\]\(([^)]+)\)", text):
            path, _, anchor = target.partition("#")
            assert (source.parent / path).is_file(), target
            if anchor:  # a heading of the file it leads to
                headings = re.findall(r"^#+ (.+)$", (source.parent / path).read_text(), re.M)
                assert any(re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") == anchor for h in headings), target


def test_the_headline_numbers_are_those_of_the_json(copy):
    """The README's figures recomputed here from the JSON: the checkpoint the validation LL chooses, means over seeds,
    ratios."""
    assert report(*copy["args"]) == (0, "")
    text = block(copy["readme"])

    def load(rel):
        return json.loads((RESULTS / rel).read_text())

    # Table 1: each seed's checkpoint chosen by the validation images
    best = [max((load(p.relative_to(RESULTS)) for p in RESULTS.glob(pattern)),
                key=lambda e: max(e["parzen_validation_ll"].values()))
            for pattern in ("table1_cpu_long/constant_ema_step_*.json", "table1_cpu_seed1/paper_seed1_step_*.json")]
    semi100 = [load(f"semi_supervised/cpu_aff_me3_semi100_16000_seed{s}_eval.json")["test_error"] for s in range(3)]
    # 1000 labels: each seed's checkpoint of the first lowest validation error (--keep-best), by the logged errors
    by_step = load("semi_supervised/cpu_semi1000_screens_by_step.json")["runs"]
    chosen = [load(f"semi_supervised/cpu_semi1000_vat1_best_seed{s}_eval.json") for s in range(3)]
    for seed, evaluation in enumerate(chosen):
        errors = by_step[f"vat1_steps32000_seed{seed}"]["val_error_by_step"]
        assert evaluation["run"]["trained_steps"] == int(min(errors, key=errors.get))
    semi1000 = [evaluation["test_error"] for evaluation in chosen]
    # all labels: trained on every image to the step of the validation runs' lowest mean validation error
    by_step = load("semi_supervised/cpu_semiall_ema32k_by_step.json")["runs"]
    errors = {step: statistics.mean(by_step[f"seed{s}"]["val_error_by_step"][step] for s in range(3))
              for step in by_step["seed0"]["val_error_by_step"]}
    chosen = [load(f"semi_supervised/cpu_semiall60k_24000_seed{s}_eval.json") for s in range(3)]
    for evaluation in chosen:
        assert evaluation["run"]["trained_steps"] == int(min(errors, key=errors.get))
        assert evaluation["train_config"]["validation_images"] == 0
    semiall = [evaluation["test_error"] for evaluation in chosen]
    clusters = [load(f"clustering_cpu/clu16_recipe_seed{s}_eval.json")["test_error"] for s in range(3)]
    clusters30 = [load(f"clustering_cpu/clu30_16k_seed{s}_eval.json")["test_error"] for s in range(3)]
    cpu = {(r["impl"], r["precision"], r["compile"]): r["step_samples_per_s"] for r in load("throughput_cpu.json")
           if r["batch_size"] == 100}
    gpu = {(r["impl"], r["precision"], r["compile"], r["cuda_graph"]): r["step_samples_per_s"]
           for r in load("throughput_gpu_b100.json")}
    for figure in [*(f"{seed['parzen_ll']:.1f} ± {seed['parzen_ll_stderr']:.1f}" for seed in best),
                   f"{statistics.mean(seed['parzen_ll'] for seed in best):.1f} (mean of",
                   f"{100 * statistics.mean(semi100):.2f} (mean of",
                   f"{100 * statistics.mean(semi1000):.2f} (mean of",
                   f"{100 * statistics.mean(semiall):.2f} (mean of",
                   f"{100 * statistics.mean(clusters):.2f} (mean of",
                   f"{100 * statistics.mean(clusters30):.2f} (mean of",
                   f"{100 * load('supervised/eval_final.json')['tstr_accuracy']:.2f}",
                   f"{cpu['aae_dist', 'no', False] / cpu['seed', 'no', False]:.2f}x",
                   f"{gpu['aae_dist', 'bf16', True, True] / gpu['seed', 'no', False, False]:.2f}x"]:
        assert f"[{figure}" in text or f"| {figure}" in text, figure


def test_a_readme_without_markers_is_one_line_of_error(copy):
    copy["readme"].write_text("# Title\n\nNo markers here.\n")
    for args in [copy["args"], ["--check", *copy["args"]]]:
        status, err = report(*args)
        assert status == 1 and err.count("\n") == 1 and f"{copy['readme']} has no {BEGIN}" in err
    assert copy["readme"].read_text() == "# Title\n\nNo markers here.\n"
    assert copy["docs"].is_file()  # the page does not need the README


@pytest.mark.parametrize("damage, named", [
    (lambda path: path.write_text('{"tstr_accuracy": 0.95,'), "broken JSON"),
    (lambda path: path.write_text('{"tstr_accuracy": "95%"}'), "unknown JSON"),
    (lambda path: path.write_text('[1, 2]'), "unknown JSON"),
])
def test_broken_or_unknown_json_is_one_line_of_error(copy, damage, named):
    final = copy["results"] / "supervised" / "eval_final.json"
    damage(final)
    status, err = report(*copy["args"])
    assert status == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("report.py: ") and str(final) in err and named in err


def test_the_gpu_lever_table_appears_once_a_gpu_session_brings_its_json(copy):
    assert report(*copy["args"]) == (0, "")
    assert "GPU, batch 100, CUDA graph" not in copy["performance"].read_text()  # not there yet: left out, no error
    records = json.loads((RESULTS / "levers_cpu.json").read_text())
    for r in records:
        r.update(device="cuda", device_name="NVIDIA H200", cuda_graph=True, step_ms_median=r["step_ms_median"] / 30)
    (copy["results"] / "levers_gpu.json").write_text(json.dumps(records))
    assert report(*copy["args"]) == (0, "")
    page = copy["performance"].read_text()
    table = page[page.index("GPU, batch 100, CUDA graph"):]
    assert "NVIDIA H200 (cuda)" in table and f"[{records[0]['step_ms_median']:.1f}](../results/levers_gpu.json)" in table
