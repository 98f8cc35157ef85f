"""Is mmsiam:embed's learned embedding useful to classic tools? Potsdam, blocked folds.

    .venv/bin/python benchmarks/embedding_potsdam.py      # ~3 min on 2 cores

1. mmsiam:embed's core (16 components, the pretrained checkpoint cached by
   active_learning_potsdam.py: simsiam, patch 5, 25 × 8,192, seed 42) writes the embedding of
   EnMAP VNIR + SWIR to benchmarks/out/embedding_potsdam.tif.
2. Random forest (300 trees) on the 16 embedding bands + the 218 normalised raw bands, against
   the raw bands alone, on the evaluation's blocked 5-fold split (39-px blocks, training pixels
   within PATCH_SIZE//2 of a test pixel dropped), training on a stratified 5 % and 20 % of each
   training fold; 3 seeds (fold assignment, subsample and forest), mean ± std over the 15 runs.
3. k-means, 6 clusters, on all valid pixels: purity against the 5,672 labelled pixels (each
   cluster counted as its majority class), embedding (16 bands) vs raw bands, 3 seeds.
"""

import os
import subprocess
import time

import numpy as np
import rasterio
import torch
from sklearn.cluster import KMeans
from sklearn.ensemble import RandomForestClassifier

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from active_learning_potsdam import DATA, OUT, RESULTS, modalities, pretrained_checkpoint  # noqa: E402
from multimodal_siamese.core.jobs.embed_run import embed_raster, load_encoder_model  # noqa: E402
from multimodal_siamese.core.learn.evaluation import block_folds, subsample  # noqa: E402
from multimodal_siamese.core.io.inputs import GridOptions, prepare_like  # noqa: E402
from multimodal_siamese.core.io.labels import rasterize_labels, read_label_features  # noqa: E402
from multimodal_siamese.core.learn.metrics import accuracy_assessment  # noqa: E402

SEEDS = (0, 1, 2)
RATIOS = (0.05, 0.2)


def purity(clusters: np.ndarray, truth: np.ndarray) -> float:
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(truth[clusters == c]).max()
    return total / len(truth)


def main():
    torch.set_num_threads(os.cpu_count())
    pretrained_checkpoint()
    from active_learning_potsdam import PRETRAINED

    model, meta, kind = load_encoder_model(PRETRAINED)
    prepared = prepare_like(modalities(), meta["modalities"], GridOptions.from_dict(meta["grid"]), "pretrained")
    output = os.path.join(OUT, "embedding_potsdam.tif")
    started = time.time()
    summary = embed_raster(model, kind, prepared, output, components=16, seed=42)
    embed_seconds = time.time() - started
    arrays, valid = prepared.read()
    grid = prepared.stack.grid
    prepared.close()
    with rasterio.open(output) as src:
        embedding = src.read()
    samples = rasterize_labels(read_label_features(os.path.join(DATA, "landcover_potsdam_samples.gpkg"), "class_id"),
                               grid, valid)
    classes, y = samples.classes, samples.class_index
    codes = np.array([c.code for c in classes])
    raw = np.concatenate([a[:, samples.rows, samples.cols].T for a in arrays], axis=1)
    emb = embedding[:, samples.rows, samples.cols].T
    feature_sets = {"raw bands (218)": raw, "raw bands + 16 embedding bands": np.concatenate([raw, emb], axis=1),
                    "16 embedding bands alone": emb}
    scores = {(name, ratio): [] for name in feature_sets for ratio in RATIOS}
    for seed in SEEDS:
        folds = block_folds(samples.rows, samples.cols, 5, 39, meta["patch_size"], valid.shape, seed, y)
        for f, (train, test) in enumerate(folds):
            for ratio in RATIOS:
                picked = subsample(train, y, ratio, np.random.default_rng(seed * 100 + f))
                for name, x in feature_sets.items():
                    forest = RandomForestClassifier(300, n_jobs=-1, random_state=seed * 100 + f).fit(x[picked], y[picked])
                    a = accuracy_assessment(codes[y[test]], codes[forest.predict(x[test])], classes)
                    scores[(name, ratio)].append((a["overall_accuracy"], a["mean_iou"]))
        print(f"seed {seed} done", flush=True)
    all_raw = np.concatenate([a[:, valid].T for a in arrays], axis=1)
    all_emb = embedding[:, valid].T
    label_at = np.full(valid.shape, -1)
    label_at[samples.rows, samples.cols] = y
    truth = label_at[valid]
    labelled = truth >= 0
    purities = {"raw bands (218)": [], "16 embedding bands": []}
    for seed in SEEDS:
        for name, x in (("raw bands (218)", all_raw), ("16 embedding bands", all_emb)):
            clusters = KMeans(6, n_init=4, random_state=seed).fit_predict(x)
            purities[name].append(purity(clusters[labelled], truth[labelled]))
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1].strip()
    ratios = summary["explained_variance_ratio"]
    lines = ["# Learned embedding on Potsdam (mmsiam:embed)", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}. Date: {time.strftime('%Y-%m-%d')}.",
             "Command: `.venv/bin/python benchmarks/embedding_potsdam.py`.", "",
             "EnMAP VNIR + SWIR (two modalities), the pretrained encoder (simsiam, patch 5, 25 × 8,192 samples, "
             f"seed 42), embedding = mean of the two modalities' z, 16 components fitted on "
             f"{summary['sample_pixels']} valid pixels; they explain {100 * sum(ratios):.1f} % of z's variance "
             f"(pc1 {100 * ratios[0]:.1f} %). Embedding the {grid.width} × {grid.height} px scene took "
             f"{embed_seconds:.1f} s.", "",
             "## Random forest on blocked folds", "",
             "Evaluation's blocked 5-fold split (39-px blocks, training pixels within PATCH_SIZE//2 of a test pixel "
             "dropped), stratified fraction of each training fold, 300 trees; mean ± std over 5 folds × 3 seeds "
             "(fold assignment, subsample, forest), in %.", "",
             "| features | " + " | ".join(f"OA {100 * r:.0f} % | mIoU {100 * r:.0f} %" for r in RATIOS) + " |",
             "| --- |" + " --- | --- |" * len(RATIOS)]
    for name in feature_sets:
        cells = []
        for ratio in RATIOS:
            s = np.array(scores[(name, ratio)]) * 100
            cells += [f"{s[:, 0].mean():.1f} ± {s[:, 0].std():.1f}", f"{s[:, 1].mean():.1f} ± {s[:, 1].std():.1f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## k-means, 6 clusters, all valid pixels", "",
              "Purity against the 5,672 labelled pixels (each cluster counted as its majority class); mean ± std over "
              "3 seeds (4 initialisations each).", "", "| features | purity % |", "| --- | --- |"]
    for name, values in purities.items():
        v = 100 * np.array(values)
        lines.append(f"| {name} | {v.mean():.1f} ± {v.std():.1f} |")
    lines.append("")
    with open(os.path.join(RESULTS, "embedding_potsdam.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
