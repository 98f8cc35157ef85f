"""Why does the pixel random forest beat the fusion classifier on Potsdam? Patch size and
classifier epochs, with the evaluation's own folds (mmsiam:evaluate's core).

    .venv/bin/python benchmarks/tune_potsdam.py [--patch-sizes 5 7 9 13] [--epochs 60]
        [--split blocks] [--ratios 0.05] [--folds 3]

For each patch size: dense pretraining (bfloat16 where native; cached in benchmarks/out/), then
random init, pretrained and the pixel random forest on the same folds. Appends a section to
benchmarks/results/tune_potsdam.md.
"""

import argparse
import os
import platform
import time

import torch

from plugin_path import ROOT  # noqa: E402  (makes multimodal_siamese importable)

from multimodal_siamese.core.io import inputs, labels, raster  # noqa: E402
from multimodal_siamese.core.learn import pretraining
from multimodal_siamese.core.learn.evaluation import EvaluationConfig, evaluate, summarise  # noqa: E402
from multimodal_siamese.core.progress import Progress  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "potsdam")
OUT = os.path.join(ROOT, "benchmarks", "out")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--patch-sizes", type=int, nargs="+", default=[5, 7, 9, 13])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--split", default="blocks")
    parser.add_argument("--ratios", default="0.05")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--pretrain-epochs", type=int, default=25)
    parser.add_argument("--pretrain-samples", type=int, default=8192)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    prepared = inputs.prepare([
        raster.ModalityInput("HYPERSPECTRAL", os.path.join(DATA, "enmap_potsdam_vnir.vrt")),
        raster.ModalityInput("MULTISPECTRAL", os.path.join(DATA, "enmap_potsdam_swir.vrt"))], inputs.GridOptions())
    arrays, valid = prepared.read()
    samples = labels.rasterize_labels(labels.read_label_features(
        os.path.join(DATA, "landcover_potsdam_samples.gpkg"), "class_id"), prepared.stack.grid, valid)
    prepared.close()
    ratios = tuple(float(r) for r in args.ratios.split(","))
    rows = []
    for patch_size in args.patch_sizes:
        cached = os.path.join(OUT, f"potsdam_p{patch_size}_{args.pretrain_epochs}x{args.pretrain_samples}.pt")
        if not os.path.exists(cached):
            result = pretraining.pretrain(arrays, valid, pretraining.PretrainConfig(
                patch_size=patch_size, epochs=args.pretrain_epochs, samples_per_epoch=args.pretrain_samples),
                Progress())
            torch.save({"state": result.model.state_dict(), "architecture": result.model.architecture()}, cached)
        saved = torch.load(cached, weights_only=True)
        config = EvaluationConfig(folds=args.folds, train_ratios=ratios, split=args.split, patch_size=patch_size,
                                  epochs=args.epochs)
        started = time.time()
        runs = evaluate(arrays, samples, config, ["HYPERSPECTRAL", "MULTISPECTRAL"], {(0, 1): saved["state"]},
                        [(0, 1)], saved["architecture"])
        for row in summarise(runs, samples.classes)["table"]:
            oa = row["overall_accuracy"]
            rows.append(f"| {patch_size} | {100 * row['ratio']:g} % | {row['method']} | "
                        f"{100 * oa['mean']:.1f} ± {100 * oa['std']:.1f} | "
                        f"{100 * row['mean_iou']['mean']:.1f} |")
        print(rows[-3:], f"{time.time() - started:.0f} s", flush=True)
    lines = ["", f"## SPLIT={args.split}, {args.folds} folds, classifier {args.epochs} epochs, pretraining "
             f"{args.pretrain_epochs} × {args.pretrain_samples:,} (dense)", "",
             f"Machine: {platform.node()}, {os.cpu_count()} CPU cores, torch {torch.__version__}. Date: "
             f"{time.strftime('%Y-%m-%d')}. Command: `.venv/bin/python benchmarks/tune_potsdam.py --patch-sizes "
             f"{' '.join(map(str, args.patch_sizes))} --epochs {args.epochs} --split {args.split} --ratios "
             f"{args.ratios} --folds {args.folds}`.", "",
             "| patch | ratio | method | OA | mIoU |", "| --- | --- | --- | --- | --- |"] + rows
    path = os.path.join(ROOT, "benchmarks", "results", "tune_potsdam.md")
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("# Tuning on Potsdam: patch size and classifier epochs\n\nEach section is one run of "
                    "`benchmarks/tune_potsdam.py`; folds and buffers are those of mmsiam:evaluate for that "
                    "patch size (blocks of 39 px, buffer PATCH_SIZE//2), so every method of a row group sees "
                    "the same training and test pixels.\n")
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
