"""mmsiam:evaluate through scripts/qgis_process on the real scenes, with the product's defaults: the
analyst's own path to the issue's question (is the default classifier ahead of the best classic
one, and does pretraining pay off?), answered by the evaluation report's Table III and Fig. 3.

    .venv/bin/python benchmarks/evaluate_scenes.py --scene para [--seeds 42,43,44] [--folds 3] \
        [--ratios 0.05,0.1,0.2] [--split blocks|random] [--tag _40]
    .venv/bin/python benchmarks/evaluate_scenes.py --table para tahoe tahoe_chm potsdam [para_40 ...]
    .venv/bin/python benchmarks/evaluate_scenes.py --tally [para potsdam_5f ...]

One run = one scene: spatially blocked folds (39 px, the default; ``--split random`` for a random split,
its files named ``evaluate_<scene>_random<tag>*``), pretraining inside the evaluation
for each seed (the default context objective, 25 epochs x 8,192 samples), the default classifier and
its random-init twin, the network alone both ways, the default's spectral path alone
(``CLASSIFIER=linear``, in runs recorded since 2026-12-07), the linear probe and the three classics,
all on the same pixels. The run's CSV (one row per seed x fold x ratio x method), its JSON summary and a
record of the command, time and peak memory (``/usr/bin/time -v``) go to
``benchmarks/results/evaluate_runs/`` as ``evaluate_<scene><tag>*``; ``--table`` prints the Markdown
tables of ``evaluate_scenes.md`` for the named ``<scene><tag>`` runs; ``--tally`` counts, for the
named ones (all recorded runs without names), the cells and runs where the default is ahead.
"""

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import time

from few_labels import DATA, OUT, SCENES, canopy_height
from multimodal_siamese.core.learn.evaluation import CLASSIC_METHODS, within_reach

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = os.path.join(ROOT, "benchmarks", "results", "evaluate_runs")
NAMES = {"random_forest": "forest", "lda": "LDA", "logistic": "logistic"}


def run_scene(scene, seeds, folds, ratios, tag="", split="blocks"):
    if scene == "tahoe_chm":
        canopy_height()
    modalities, labels, field = SCENES[scene]
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(RUNS, exist_ok=True)
    name = f"evaluate_{scene}{'_random' if split == 'random' else ''}{tag}"
    table, report = (os.path.join(OUT, f"{name}.{ext}") for ext in ("csv", "html"))
    parameters = {slot: os.path.join(DATA, path) for slot, path in modalities}
    parameters.update(LABELS=os.path.join(DATA, labels), CLASS_FIELD=field, SPLIT=split, FOLDS=folds,
                      TRAIN_RATIOS=ratios, SEEDS=seeds, OUTPUT_TABLE=table, OUTPUT_REPORT=report)
    command = (["/usr/bin/time", "-v", os.path.join(ROOT, "scripts", "qgis_process"), "run", "mmsiam:evaluate", "--"]
               + [f"{key}={value}" for key, value in parameters.items()])
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - started
    with open(os.path.join(OUT, f"{name}.log"), "w", encoding="utf-8") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"mmsiam:evaluate failed on {scene} (exit {done.returncode}); see the log in {OUT}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    shutil.copy(table, os.path.join(RUNS, f"{name}.csv"))
    shutil.copy(os.path.splitext(report)[0] + ".json", os.path.join(RUNS, f"{name}.json"))
    record = {"scene": scene, "seconds": round(seconds), "peak_rss_mb": int(peak.group(1)) // 1024 if peak else None,
              "machine": f"{platform.node()}, {cpu_name()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
              "command": "scripts/qgis_process run mmsiam:evaluate -- " + " ".join(
                  f"{k}={os.path.relpath(v, ROOT) if isinstance(v, str) and os.path.isabs(v) else v}"
                  for k, v in parameters.items())}
    with open(os.path.join(RUNS, f"{name}_run.json"), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record, indent=1))


def cpu_name():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")


def pct(value):
    return f"{100 * value:.1f}"


def points(stat):
    return f"{100 * stat['mean']:+.1f} ± {100 * stat['std']:.1f}"


def run_summary(scene):
    """The evaluation report's JSON summary recorded for the run set ``<scene><tag>``."""
    with open(os.path.join(RUNS, f"evaluate_{scene}.json"), encoding="utf-8") as f:
        return json.load(f)["summary"]


def tables(scenes):
    """Table III of each scene's report, the gain of pretraining for the default classifier and, where
    recorded, Table IV (the default against its spectral path alone, CLASSIFIER=linear)."""
    versus = ["| scene | ratio | runs | OA: default / best classic | OA difference | mIoU: default / best classic "
              "| mIoU difference | runs not worse | within 2 points | per-seed OA: default / best classic |",
              "|" + " --- |" * 10]
    gains = ["| scene | ratio | default: pretrained − random init, OA | mIoU | runs not worse "
             "| network alone: OA gain | runs not worse | of the LDA's misses right: pretrained / random init |",
             "|" + " --- |" * 8]
    for scene in scenes:
        summary = run_summary(scene)
        per_seed = {(r["ratio"], r["method"]): [seed["overall_accuracy"] for seed in r["per_seed"]]
                    for r in summary["table"]}
        for row in summary["against_classic"]:
            oa, miou = row["overall_accuracy"], row["mean_iou"]
            seeds = ", ".join(f"{pct(d)} / {pct(c)}" for d, c in zip(per_seed[(row["ratio"], "ensemble")],
                                                                   per_seed[(row["ratio"], oa["best_classic"])]))
            versus.append(f"| {scene} | {100 * row['ratio']:g} % | {row['runs']} | {pct(oa['default'])} / "
                          f"{pct(oa['classic'])} ({NAMES[oa['best_classic']]}) | {points(oa['difference'])} | "
                          f"{pct(miou['default'])} / {pct(miou['classic'])} ({NAMES[miou['best_classic']]}) | "
                          f"{points(miou['difference'])} | {row['runs_not_worse']} of {row['runs']} | "
                          f"{row['runs_within']} of {row['runs']} | {seeds} |")
        by_ratio = {}
        for gain in summary["gains"]:
            by_ratio.setdefault(gain["ratio"], {})[gain["classifier"]] = gain
        for ratio, pair in sorted(by_ratio.items()):
            default, network = pair["default classifier"], pair["network"]
            shares = " / ".join(pct(network[f"right_on_lda_misses_{s}"]) for s in ("pretrained", "random_init"))
            gains.append(f"| {scene} | {100 * ratio:g} % | {points(default['oa_gain'])} | "
                         f"{points(default['miou_gain'])} | {default['runs_not_worse']} of {default['runs']} | "
                         f"{points(network['oa_gain'])} | {network['runs_not_worse']} of {network['runs']} | "
                         f"{shares} |")
    added = ["| scene | ratio | runs | OA: default / linear | OA difference | mIoU: default / linear "
             "| mIoU difference | runs not worse |", "|" + " --- |" * 8]
    for scene in scenes:  # Table IV, in run sets recorded since mmsiam:evaluate scores CLASSIFIER=linear
        for row in run_summary(scene).get("networks_added", []):
            oa, miou = row["overall_accuracy"], row["mean_iou"]
            added.append(f"| {scene} | {100 * row['ratio']:g} % | {row['runs']} | {pct(oa['default'])} / "
                         f"{pct(oa['linear'])} | {points(oa['difference'])} | {pct(miou['default'])} / "
                         f"{pct(miou['linear'])} | {points(miou['difference'])} | "
                         f"{row['runs_not_worse']} of {row['runs']} |")
    return "\n".join(versus) + "\n\n" + "\n".join(gains) + ("\n\n" + "\n".join(added) if len(added) > 2 else "")


def tally(scenes):
    """Per run set and in all: the cells whose default mean is >= the best classic's (OA, mIoU) and
    >= its random-init twin's (OA), the runs within 2 OA points of / not worse than the best
    classic of the same run, and, in run sets that score it, the cells where the default's spectral
    path alone (CLASSIFIER=linear) is >= the best classic (OA, mIoU) and its runs within 2 OA points
    of the best classic of the run, beside the default's in the same runs ('–' where not recorded)."""
    lines = ["| run set | cells | default ≥ best classic: OA | mIoU | runs within 2 points | runs not worse "
             "| pretrained default ≥ random init: OA | spectral path alone ≥ best classic: OA | mIoU "
             "| runs within 2 points (the default's in the same runs) |",
             "|" + " --- |" * 10]
    total = [0] * 13
    for scene in scenes:
        summary = run_summary(scene)
        rows = summary["against_classic"]
        twins = [g["oa_gain"]["mean"] for g in summary["gains"] if g["classifier"] == "default classifier"]
        counts = [len(rows),
                  sum(r["overall_accuracy"]["default"] >= r["overall_accuracy"]["classic"] for r in rows),
                  sum(r["mean_iou"]["default"] >= r["mean_iou"]["classic"] for r in rows),
                  sum(r["runs_within"] for r in rows), sum(r["runs_not_worse"] for r in rows),
                  sum(r["runs"] for r in rows), sum(gain >= 0 for gain in twins)]
        linear = {r["ratio"]: r for r in summary.get("networks_added", [])}
        scored = [r for r in rows if r["ratio"] in linear]
        counts += [len(scored),
                   sum(linear[r["ratio"]]["overall_accuracy"]["linear"] >= r["overall_accuracy"]["classic"]
                       for r in scored),
                   sum(linear[r["ratio"]]["mean_iou"]["linear"] >= r["mean_iou"]["classic"] for r in scored)]
        counts += linear_runs_within(scene)
        total = [t + c for t, c in zip(total, counts)]
        lines.append(tally_line(scene, counts))
    lines.append(tally_line("all", total))
    return "\n".join(lines)


def linear_runs_within(scene):
    """From the run set's CSV: the runs that score the spectral path alone (CLASSIFIER=linear), and
    in how many of them it and the default are at most 2 OA points below the best classic of the run."""
    runs = {}
    with open(os.path.join(RUNS, f"evaluate_{scene}.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = (row["modalities"], row["ratio"], row["seed"], row["fold"])
            runs.setdefault(key, {})[row["method"]] = float(row["OA"])
    scored = [oa for oa in runs.values() if "linear" in oa]
    best = [max(oa[c] for c in CLASSIC_METHODS) for oa in scored]

    def within(method):  # as the product counts runs_within (core.learn.evaluation.against_best_classic)
        return sum(within_reach(b - oa[method]) for b, oa in zip(best, scored))

    return [len(scored), within("linear"), within("ensemble")]


def tally_line(name, counts):
    (cells, oa, miou, within, not_worse, runs, twins, scored, linear_oa, linear_miou,
     linear_runs, linear_within, default_within) = counts
    linear = (f"{linear_oa} of {scored} | {linear_miou} of {scored} | "
              f"{linear_within} of {linear_runs} ({default_within})" if scored else "– | – | –")
    return (f"| {name} | {cells} | {oa} of {cells} | {miou} of {cells} | {within} of {runs} | "
            f"{not_worse} of {runs} | {twins} of {cells} | {linear} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", choices=sorted(SCENES))
    parser.add_argument("--seeds", default="42,43,44")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--ratios", default="0.05,0.1,0.2")
    parser.add_argument("--split", choices=["blocks", "random"], default="blocks",
                        help="spatial blocks (the default) or a random split, which flatters patch-based models")
    parser.add_argument("--tag", default="", help="suffix of the run's file names, e.g. _40")
    parser.add_argument("--table", nargs="*")
    parser.add_argument("--tally", nargs="*", help="run sets to count (all recorded ones without names)")
    args = parser.parse_args()
    if args.table:
        print(tables(args.table))
    elif args.tally is not None:
        print(tally(args.tally or sorted(
            name[len("evaluate_"):-len(".json")] for name in os.listdir(RUNS)
            if name.startswith("evaluate_") and name.endswith(".json") and not name.endswith("_run.json"))))
    elif args.scene:
        run_scene(args.scene, args.seeds, args.folds, args.ratios, args.tag, args.split)
    else:
        parser.error("give --scene, --table or --tally")


if __name__ == "__main__":
    main()
