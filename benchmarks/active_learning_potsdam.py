"""Active learning simulated on Potsdam: mmsiam:suggestsites' strategies against random sites.

    .venv/bin/python benchmarks/active_learning_potsdam.py --seed 0     # one seed (~5 min, 2 cores)
    .venv/bin/python benchmarks/active_learning_potsdam.py --report     # table + plot from all seeds

Protocol. EnMAP VNIR + SWIR as two modalities; the dense label raster (its 5,672 labelled pixels)
answers as the analyst would. The evaluation's spatial blocks (39 px, fold 0 of a blocked 5-fold
split drawn with the seed) hold the test pixels out; training pixels within PATCH_SIZE//2 of a test
pixel are dropped (core.learn.evaluation.block_folds). Sites may only fall on the remaining labelled
training pixels (the MASK of the simulation: elsewhere the "analyst" has no answer).

Start: a stratified 1 % of the training pixels. Then 5 rounds: suggest 30 sites with the current
classifier, label them from the reference, retrain from the pretrained encoder. Strategies:
uncertainty_diversity (the default), uncertainty, random (the fusion classifier on random sites)
and a pixel random forest (300 trees) on the very same random sites. OA and mIoU on the test
blocks after every round. The pretrained checkpoint is cached in benchmarks/out/.
"""

import argparse
import glob
import json
import os
import platform
import subprocess
import time

import numpy as np
import torch

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.io import raster  # noqa: E402
from multimodal_siamese.core.jobs.classifier_run import load_pretrained  # noqa: E402
from multimodal_siamese.core.learn.evaluation import block_folds, subsample  # noqa: E402
from multimodal_siamese.core.learn.finetune import ClassifierConfig, predict_samples, train_classifier  # noqa: E402
from multimodal_siamese.core.io.inputs import GridOptions, prepare, prepare_like  # noqa: E402
from multimodal_siamese.core.io.labels import rasterize_labels, read_label_features  # noqa: E402
from multimodal_siamese.core.learn.metrics import accuracy_assessment  # noqa: E402
from multimodal_siamese.core.jobs.pretrain_run import run_pretraining  # noqa: E402
from multimodal_siamese.core.learn.pretraining import PretrainConfig  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402
from multimodal_siamese.core.jobs.suggest_run import suggest_sites  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "potsdam")
OUT = os.path.join(ROOT, "benchmarks", "out")
RESULTS = os.path.join(ROOT, "benchmarks", "results")
PRETRAINED = os.path.join(OUT, "pretrained_potsdam_p5_25x8192_s42.pt")
STRATEGIES = ["uncertainty_diversity", "uncertainty", "random", "random_forest"]
NAMES = {"uncertainty_diversity": "suggested sites (default: uncertainty + diversity)",
         "uncertainty": "uncertainty only", "random": "random sites (fusion classifier)",
         "random_forest": "random forest on the random sites",
         "uncertainty_diversity_entropy": "uncertainty + diversity, entropy instead of margin"}


def modalities():
    return [raster.ModalityInput("HYPERSPECTRAL", os.path.join(DATA, "enmap_potsdam_vnir.vrt")),
            raster.ModalityInput("MULTISPECTRAL", os.path.join(DATA, "enmap_potsdam_swir.vrt"))]


def pretrained_checkpoint():
    """The pretrained encoder: default settings (simsiam, dense, patch 5, 25 epochs × 8,192), seed 42."""
    if not os.path.exists(PRETRAINED):
        os.makedirs(OUT, exist_ok=True)
        prepared = prepare(modalities(), GridOptions(), 42)
        try:
            run_pretraining(prepared, PretrainConfig(epochs=25, samples_per_epoch=8192, seed=42), PRETRAINED,
                            None, Progress())
        finally:
            prepared.close()
    return load_pretrained(PRETRAINED)


def run_seed(seed: int, epochs: int, rounds: int, per_round: int, min_distance: int, strategies: list):
    pretrained = pretrained_checkpoint()
    meta = pretrained["metadata"]
    prepared = prepare_like(modalities(), meta["modalities"], GridOptions.from_dict(meta["grid"]), "pretrained")
    arrays, valid = prepared.read()
    grid = prepared.stack.grid
    samples = rasterize_labels(read_label_features(os.path.join(DATA, "landcover_potsdam_samples.gpkg"),
                                                   "class_id"), grid, valid)
    classes, y = samples.classes, samples.class_index
    codes = np.array([c.code for c in classes])
    patch = meta["patch_size"]
    train, test = block_folds(samples.rows, samples.cols, 5, 39, patch, valid.shape, seed, y)[0]
    label_map = np.full(valid.shape, -1, np.int64)
    label_map[samples.rows[train], samples.cols[train]] = y[train]   # the analyst's answers
    pool = label_map >= 0
    start = subsample(train, y, 0.01, np.random.default_rng(seed))
    result = {"seed": seed, "train_pool": int(len(train)), "test": int(len(test)), "start": int(len(start)),
              "curves": {}}

    def fit(rows, cols, targets, round_seed):
        config = ClassifierConfig(patch_size=patch, epochs=epochs, seed=round_seed)
        return train_classifier(arrays, rows, cols, targets, len(classes), config, pretrained["state_dict"],
                                meta["architecture"]).model

    def assess(predicted):
        a = accuracy_assessment(codes[y[test]], codes[predicted], classes)
        return a["overall_accuracy"], a["mean_iou"]

    features = np.concatenate([a[:, samples.rows, samples.cols].T for a in arrays], axis=1)
    random_labels = None
    for strategy in strategies:
        if strategy == "random_forest":
            continue
        measure = "entropy" if strategy.endswith("_entropy") else "margin"
        base = strategy.replace("_entropy", "")
        rows, cols = samples.rows[start].copy(), samples.cols[start].copy()
        curve, started = [], time.time()
        for r in range(rounds + 1):
            model = fit(rows, cols, label_map[rows, cols], seed * 1000 + r)
            predicted, _ = predict_samples(model, arrays, samples.rows[test], samples.cols[test])
            oa, miou = assess(predicted)
            curve.append({"labels": int(len(rows)), "oa": oa, "miou": miou})
            print(f"seed {seed}  {strategy:28s} round {r}  {len(rows):4d} labels  OA {100 * oa:.1f}  "
                  f"mIoU {100 * miou:.1f}", flush=True)
            if r == rounds:
                break
            allowed = pool.copy()
            allowed[rows, cols] = False
            sites = suggest_sites(model, prepared, per_round, base, min_distance, (rows, cols), allowed,
                                  seed * 1000 + r, measure=measure)
            rows, cols = np.r_[rows, sites["rows"]], np.r_[cols, sites["cols"]]
        result["curves"][strategy] = curve
        result.setdefault("seconds", {})[strategy] = time.time() - started
        if strategy == "random":
            random_labels = (rows, cols)
    if "random_forest" in strategies and random_labels is not None:
        from sklearn.ensemble import RandomForestClassifier

        index = {(r, c): i for i, (r, c) in enumerate(zip(samples.rows, samples.cols))}
        order = [index[(r, c)] for r, c in zip(*random_labels)]
        curve = []
        for r in range(rounds + 1):
            used = order[:len(start) + r * per_round]
            forest = RandomForestClassifier(300, n_jobs=-1, random_state=seed).fit(features[used], y[used])
            oa, miou = assess(forest.predict(features[test]))
            curve.append({"labels": len(used), "oa": oa, "miou": miou})
            print(f"seed {seed}  random_forest                round {r}  {len(used):4d} labels  OA {100 * oa:.1f}  "
                  f"mIoU {100 * miou:.1f}", flush=True)
        result["curves"]["random_forest"] = curve
    prepared.close()
    return result


def report(args):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(OUT, "active_learning_seed*.json")))]
    if not runs:
        raise SystemExit("no seed results in benchmarks/out; run with --seed first")
    strategies = [s for s in list(NAMES) if all(s in r["curves"] for r in runs)]
    rounds = len(runs[0]["curves"][strategies[0]])
    table = {}
    for s in strategies:
        oa = np.array([[p["oa"] for p in r["curves"][s]] for r in runs])
        miou = np.array([[p["miou"] for p in r["curves"][s]] for r in runs])
        labels = np.array([[p["labels"] for p in r["curves"][s]] for r in runs]).mean(0)
        table[s] = {"labels": labels, "oa": oa, "miou": miou}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in strategies:
        t = table[s]
        for ax, key in zip(axes, ("oa", "miou")):
            mean, std = 100 * t[key].mean(0), 100 * t[key].std(0)
            ax.errorbar(t["labels"], mean, yerr=std, marker="o", capsize=3, label=NAMES[s])
    for ax, title in zip(axes, ("Overall accuracy (%)", "mIoU (%)")):
        ax.set_xlabel("labelled pixels")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Active learning on Potsdam, blocked test split, {len(runs)} seeds (mean ± std)")
    fig.tight_layout()
    png = os.path.join(RESULTS, "active_learning_potsdam.png")
    fig.savefig(png, dpi=110)
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1].strip()
    lines = ["# Active learning on Potsdam (mmsiam:suggestsites)", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}.",
             f"Commands: `.venv/bin/python benchmarks/active_learning_potsdam.py --seed S` for S in "
             f"{', '.join(str(r['seed']) for r in runs)} with `--strategies uncertainty_diversity,uncertainty,random,random_forest,uncertainty_diversity_entropy` (seeds 0–2 in one shell loop, 3–9 in another), then "
             "`.venv/bin/python benchmarks/active_learning_potsdam.py --report`.", "",
             "EnMAP VNIR + SWIR as two modalities; the dense label raster answers as the analyst. Test pixels: "
             "fold 0 of the evaluation's blocked 5-fold split (39-px blocks, drawn with the seed; training pixels "
             f"within PATCH_SIZE//2 of a test pixel dropped): {', '.join(str(r['test']) for r in runs)} test pixels. "
             "Sites may fall only on the remaining labelled training pixels "
             f"({', '.join(str(r['train_pool']) for r in runs)}), the simulation's MASK. Start: a stratified 1 % of "
             f"them ({', '.join(str(r['start']) for r in runs)} px), then 5 rounds × 30 sites; the fusion classifier "
             f"restarts each round from the pretrained encoder (simsiam, patch 5, 25 × 8,192, seed 42), "
             f"{args.epochs} epochs, automatic learning rate. MIN_DISTANCE {args.min_distance} px (the default, "
             "twice the patch size, does not fit 180 sites into this 160 × 192 px scene's labelled area). "
             "Random forest: 300 trees on the pixels' 218 normalised bands, fed the same random sites.", "",
             f"![OA and mIoU against labels]({os.path.basename(png)})", ""]
    for key, title in (("oa", "Overall accuracy"), ("miou", "mIoU")):
        header = "| strategy | " + " | ".join(f"round {r} ({table[strategies[0]]['labels'][r]:.0f} px)"
                                                for r in range(rounds)) + " |"
        lines += [f"## {title} on the test blocks, % (mean ± std over seeds)", "", header,
                  "| --- |" + " --- |" * rounds]
        for s in strategies:
            t = table[s][key]
            lines.append(f"| {NAMES[s]} | " + " | ".join(f"{100 * t[:, r].mean():.1f} ± {100 * t[:, r].std():.1f}"
                                                          for r in range(rounds)) + " |")
        lines.append("")
    if "uncertainty_diversity" in table and "random" in table:
        d, r = table["uncertainty_diversity"], table["random"]
        wins = [(d[k].mean(0) > r[k].mean(0))[1:] for k in ("oa", "miou")]
        end = r["oa"].mean(0)[-1]
        reach = [i for i in range(rounds) if d["oa"].mean(0)[i] >= end]
        half = r["labels"][-1] / 2
        reached = (f"reaches random's final OA ({100 * end:.1f} %) at round {reach[0]} with "
                   f"{d['labels'][reach[0]]:.0f} labels (half of random's final {r['labels'][-1]:.0f} is {half:.0f})"
                   if reach else f"never reaches random's final OA ({100 * end:.1f} %)")
        per_seed = sum(int((run["curves"]["uncertainty_diversity"][i]["oa"] > run["curves"]["random"][i]["oa"]))
                       for run in runs for i in range(1, rounds))
        lines += ["## Against the targets", "",
                  f"* Default strategy beats random sites (mean OA) in {int(wins[0].sum())} of {rounds - 1} rounds "
                  f"after the start, mean mIoU in {int(wins[1].sum())} of {rounds - 1}; per seed and round (OA) "
                  f"{per_seed} of {len(runs) * (rounds - 1)}.",
                  f"* Default strategy {reached}.", ""]
    with open(os.path.join(RESULTS, "active_learning_potsdam.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=30)
    parser.add_argument("--min-distance", type=int, default=3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    if args.report:
        report(args)
        return
    os.makedirs(OUT, exist_ok=True)
    result = run_seed(args.seed, args.epochs, args.rounds, args.per_round, args.min_distance,
                      args.strategies.split(","))
    result["args"] = vars(args)
    path = os.path.join(OUT, f"active_learning_seed{args.seed}.json")
    if os.path.exists(path):  # several strategy subsets of one seed accumulate
        previous = json.load(open(path))
        previous["curves"].update(result["curves"])
        previous.setdefault("seconds", {}).update(result.get("seconds", {}))
        result = previous
    json.dump(result, open(path, "w"), indent=1)


if __name__ == "__main__":
    main()
