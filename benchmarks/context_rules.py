"""Should the default's LDA read the patch's mean spectrum? Rules that decide from the training
labels alone, scored offline on few_labels.py's saved parts.

    .venv/bin/python benchmarks/few_labels.py --lean --save-views --tag _comb --scene S --seed N
    .venv/bin/python benchmarks/context_rules.py --scene S            # seeds 42-44, 5 / 10 / 20 %
    .venv/bin/python benchmarks/context_rules.py --table potsdam para tahoe_chm tahoe
    .venv/bin/python benchmarks/context_rules.py --scene S --scores   # other scores and block sizes

For every fold × ratio run of the ``_comb`` sets (the same folds and training pixels as
few_labels.py; spatial blocks of 39 px, 3 folds), the LDA is fitted on the training pixels'
centre bands (``lda``, what the default held until the fourteenth session) and on [centre bands ‖
the 5×5 patch's mean spectrum] (``lda_ctx``), and the default is rebuilt from the run's saved
network views with either (``few_labels.from_views``: ½ the networks' mean + ½ LDA), or with the
two LDAs' probabilities averaged (``default_both``: no choice). The rules
choose per run, from the training pixels alone, on spatially blocked inner folds (3 folds of
39-px blocks, drawn 3 times from the run's classifier seed, the evaluation's halo): ``nll`` keeps
the mean when it lowers the held-out log-loss (the product's rule,
``core.learn.spectral.choose_band_context``, called here as the product calls it); ``oa_gt`` /
``oa_ge`` when it raises (or does not lower) the held-out OA; ``ba_gt`` when it raises the
held-out mean per-class accuracy. Rows go to benchmarks/out/context_rules_<scene>.json; with
``--scores`` also the SCORE_RULES (temperature-fitted log-loss, Brier score, 19- and 59-px inner
blocks) to context_rules_scores_<scene>.json (``--table … --scores``).
"""

import argparse
import json
import os

import numpy as np
import torch

from few_labels import OUT, from_views, load_scene, score, training_part
from multimodal_siamese.core.learn.folds import block_folds
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.core.learn import spectral
from multimodal_siamese.core.learn.spectral import (MIN_LOG_LIKELIHOOD, choose_band_context, context_folds,
                                                    fit_spectral_path, log_softmax, pixel_spectra, spectral_logits)
from multimodal_siamese.models.network import view_sets

SEEDS = (42, 43, 44)
RATIOS = (0.05, 0.1, 0.2)
PATCH = 5
RULES = ("nll", "oa_gt", "oa_ge", "ba_gt")
# scikit-learn's shrinkage LDA: the default's LDA when these rules were measured (fourteenth to
# seventeenth sessions; the product's spectral path pools the covariance since then)
LDA = "sklearn_lda"
# scored from the same inner folds' out-of-fold logits (``--scores``, seventeenth session): the
# log-loss after each LDA's logits are divided by the temperature that fits its own out-of-fold
# predictions best (``nll_cal``), and the Brier score (``brier``, bounded: one confident mistake
# costs at most 2), with the product's 39-px blocks and with 19- and 59-px ones; and the product's
# rule with the blocks drawn 9 times instead of 3 (``nll_r9``)
SCORE_RULES = ("nll_cal", "brier", "nll_cal_b19", "brier_b19", "nll_cal_b59", "brier_b59", "nll_r9")
TEMPERATURES = np.logspace(0, 3, 61)


def probabilities(features, train, test, y, n_classes):
    path = fit_spectral_path(features[train], None, y[train], n_classes, LDA)
    return torch.softmax(torch.as_tensor(spectral_logits(path, features[test], None), dtype=torch.float64), 1).numpy()


def held_out_accuracy(features, rows, cols, y, n_classes, seed):
    """Held-out (OA, mean per-class accuracy) of the LDA over the rule's blocked inner folds."""
    right, total = np.zeros(n_classes), np.zeros(n_classes)
    for train, test in context_folds(rows, cols, y, PATCH, seed):
        hit = probabilities(features, train, test, y, n_classes).argmax(1) == y[test]
        np.add.at(right, y[test], hit)
        np.add.at(total, y[test], 1)
    seen = total > 0
    return right.sum() / max(total.sum(), 1), float(np.mean(right[seen] / total[seen])) if seen.any() else 0.0


def out_of_fold_scores(features, rows, cols, y, n_classes, seed, block):
    """(log-loss at the best temperature, Brier score) of the LDA over the rule's inner folds,
    with blocks of ``block`` px."""
    saved, spectral.CONTEXT_BLOCK_SIZE = spectral.CONTEXT_BLOCK_SIZE, block
    try:
        logits, truth = [], []
        for train, test in context_folds(rows, cols, y, PATCH, seed):
            path = fit_spectral_path(features[train], None, y[train], n_classes, LDA)
            logits.append(spectral_logits(path, features[test], None))
            truth.append(y[test])
    finally:
        spectral.CONTEXT_BLOCK_SIZE = saved
    if not logits:
        return np.inf, np.inf
    logits, truth = np.concatenate(logits), np.concatenate(truth)
    picked = np.arange(len(truth)), truth
    nll = min(-np.maximum(log_softmax(logits / t)[picked], MIN_LOG_LIKELIHOOD).mean() for t in TEMPERATURES)
    p = np.exp(log_softmax(logits))
    p[picked] -= 1
    return nll, float((p ** 2).sum(1).mean())


def scene_pixels(scene):
    """The scene's arrays, valid mask and labels, and the labelled pixels' [centre bands ‖ 5×5 patch mean]."""
    arrays, valid, samples = load_scene(scene)
    spectra = pixel_spectra(PatchSource(arrays, PATCH), samples.rows, samples.cols, PATCH, context=True)
    return arrays, valid, samples, spectra


def scored_row(row, methods, samples, y_test):
    """``row`` with each method's [OA, mIoU] (%) from its test probabilities, printed as JSON."""
    codes = np.array([c.code for c in samples.classes])
    for name, p in methods.items():
        row[name] = [round(100 * v, 2) for v in score(codes, samples.classes, y_test,
                                                       np.log(np.clip(p, 1e-12, 1)))[:2]]
    print(json.dumps(row), flush=True)
    return row


def runs(arrays, samples):
    """(seed, fold index, ratio, training pixels, test pixels) of every run of few_labels.py's 3
    spatially blocked folds (39 px) × RATIOS, seeds SEEDS."""
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    for seed in SEEDS:
        for f, (train_all, test) in enumerate(block_folds(rows, cols, 3, 39, PATCH, arrays[0].shape[1:], seed, y)):
            for ratio in RATIOS:
                yield seed, f, ratio, training_part(train_all, y, ratio, seed, f), test


def run(scene, scores=False):
    arrays, valid, samples, spectra = scene_pixels(scene)
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes = len(samples.classes)
    centre = spectra[:, :spectra.shape[1] // 2]
    out = []
    for seed, f, ratio, train, test in runs(arrays, samples):
        config_seed = seed + f  # few_labels.py trains the default with seed + fold
        parts = np.load(os.path.join(OUT, f"few_labels_{scene}_blocks_comb_s{seed}_f{f + 1}_r{ratio:g}_views.npz"))
        assert np.array_equal(parts["y"], y[test])
        lda = probabilities(centre, train, test, y, n_classes)
        assert np.allclose(parts["lda"], lda, atol=1e-3)  # the saved default's LDA
        lda_ctx = probabilities(spectra, train, test, y, n_classes)
        # the default's networks: 3, sharing the 8 views out (3 each), their probabilities averaged
        networks = np.mean([parts["views"][i, t] for i, views in enumerate(view_sets(3, 3)) for t in views], 0)
        assert np.allclose(from_views(parts["views"], lda, view_sets(3, 3)), 0.5 * networks + 0.5 * lda)
        choice = choose_band_context(spectra[train], rows[train], cols[train], y[train], n_classes, PATCH,
                                     config_seed, LDA)
        oa = {}
        for name, features in (("centre", centre), ("context", spectra)):
            oa[name] = held_out_accuracy(features, rows[train], cols[train], y[train], n_classes, config_seed)
        picks = {"nll": choice.use, "oa_gt": oa["context"][0] > oa["centre"][0],
                 "oa_ge": oa["context"][0] >= oa["centre"][0], "ba_gt": oa["context"][1] > oa["centre"][1]}
        if scores:
            for block in (39, 19, 59):
                suffix = "" if block == 39 else f"_b{block}"
                (nll_off, brier_off), (nll_on, brier_on) = (
                    out_of_fold_scores(features, rows[train], cols[train], y[train], n_classes, config_seed, block)
                    for features in (centre, spectra))
                picks["nll_cal" + suffix] = nll_on < nll_off
                picks["brier" + suffix] = brier_on < brier_off
            saved, spectral.CONTEXT_REPEATS = spectral.CONTEXT_REPEATS, 9
            try:
                picks["nll_r9"] = choose_band_context(spectra[train], rows[train], cols[train], y[train],
                                                      n_classes, PATCH, config_seed, LDA).use
            finally:
                spectral.CONTEXT_REPEATS = saved
        row = dict(seed=seed, fold=f + 1, ratio=ratio, **{f"pick_{k}": bool(v) for k, v in picks.items()})
        methods = {"lda": lda, "lda_ctx": lda_ctx, "networks": networks,
                   "default_centre": 0.5 * networks + 0.5 * lda, "default_context": 0.5 * networks + 0.5 * lda_ctx,
                   "default_both": 0.5 * networks + 0.25 * lda + 0.25 * lda_ctx}
        methods.update({f"default_{k}": 0.5 * networks + 0.5 * (lda_ctx if v else lda) for k, v in picks.items()})
        out.append(scored_row(row, methods, samples, y[test]))
    with open(os.path.join(OUT, f"context_rules{'_scores' if scores else ''}_{scene}.json"), "w") as fh:
        json.dump(out, fh)


def table(scenes, scores=False):
    rules = ("nll",) + SCORE_RULES if scores else RULES
    fixed = ("centre", "context") if scores else ("centre", "context", "both")
    names = {"centre": "default (centre)", "context": "default (mean always)", "both": "default (½ each LDA)"}
    lines = ["| scene | ratio | " + " | ".join(names[f] for f in fixed) + " | "
             + " | ".join(f"rule `{r}` (runs with the mean)" for r in rules) + " |",
             "| --- | --- | " + " | ".join("---" for _ in fixed + rules) + " |"]
    for scene in scenes:
        rows = json.load(open(os.path.join(OUT, f"context_rules{'_scores' if scores else ''}_{scene}.json")))
        for ratio in RATIOS:
            runs = [r for r in rows if r["ratio"] == ratio]
            cell = lambda m: "{:.1f} / {:.1f}".format(*np.mean([r[m] for r in runs], 0))  # noqa: E731
            lines.append(f"| {scene} | {100 * ratio:g} % | " + " | ".join(cell("default_" + f) for f in fixed) + " | "
                         + " | ".join(f"{cell('default_' + k)} ({sum(r['pick_' + k] for r in runs)})" for k in rules) + " |")
    return "\n".join(lines)


def mean_table(record, scenes, methods, extra_header=None, extra=None):
    """Markdown: each method's mean [OA / mIoU] per scene × ratio over the runs in
    ``<record>_<scene>.json``; ``extra(runs)`` fills a last column headed ``extra_header``."""
    tail = [extra_header] if extra else []
    lines = ["| scene | ratio | " + " | ".join([f"`{m}`" for m in methods] + tail) + " |",
             "| --- | --- | " + " | ".join("---" for _ in list(methods) + tail) + " |"]
    for scene in scenes:
        rows = json.load(open(os.path.join(OUT, f"{record}_{scene}.json")))
        for ratio in RATIOS:
            runs_ = [r for r in rows if r["ratio"] == ratio]
            cells = ["{:.1f} / {:.1f}".format(*np.mean([r[m] for r in runs_], 0)) for m in methods]
            lines.append(f"| {scene} | {100 * ratio:g} % | " + " | ".join(cells + ([extra(runs_)] if extra else [])) + " |")
    return "\n".join(lines)


def command_line(doc, run_scene, **tables):
    """The offline scripts' command line: ``--scene S`` runs ``run_scene(S)``; ``--<name> scenes…``
    prints ``tables[name](scenes)``."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--scene")
    for name in tables:
        parser.add_argument(f"--{name}", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(2)
    for name, table_of in tables.items():
        if getattr(args, name):
            print(table_of(getattr(args, name)))
            return
    run_scene(args.scene)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene")
    parser.add_argument("--table", nargs="*")
    parser.add_argument("--scores", action="store_true", help="also the SCORE_RULES (context_rules_scores_<scene>.json)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.table:
        print(table(args.table, args.scores))
    else:
        run(args.scene, args.scores)


if __name__ == "__main__":
    main()
