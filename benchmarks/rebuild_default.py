"""The default classifier rebuilt from few_labels.py's saved test probabilities, with another
choice of its LDA or a third member: what two ideas of the seventeenth session would have given.

    .venv/bin/python benchmarks/few_labels.py --lean --pretrain-variant ctx --tag _cpred --scene S --seed N
    .venv/bin/python benchmarks/context_rules.py --scene S --scores
    .venv/bin/python benchmarks/rebuild_default.py --scene S          # seeds 42-44, 5 / 10 / 20 %

For every fold × ratio run of the ``_cpred`` sets (the default with context-pretrained networks), the
networks' part is recovered from the saved default (½ networks + ½ the LDA that
``SPECTRAL_CONTEXT=auto`` chose, ``context_rules.py``'s ``pick_nll``) and the default is rebuilt:

- ``nll_r9``: with the LDA that the same rule chooses when it draws the inner blocks 9 times
  instead of 3 (``pick_nll_r9``);
- ``thirds``: ⅓ networks + ⅓ LDA + ⅓ the linear probe of the pretrained z (logistic regression,
  ``spectral.probe_logits``), in every run;
- ``probe_nll`` / ``probe_acc``: ``thirds`` where the training labels ask for it, else the default:
  on the rule's spatially blocked inner folds (``spectral.context_folds``) the LDA averaged with the
  probe has a lower held-out log-loss (or a higher held-out OA) than the LDA alone.
"""

import argparse
import json
import os

import numpy as np
import torch

from few_labels import OUT, load_scene, pretrained_checkpoint, score, training_part
from multimodal_siamese.core.learn.folds import block_folds
from multimodal_siamese.core.learn.pretraining import PatchSource
from multimodal_siamese.core.learn.spectral import (MIN_LOG_LIKELIHOOD, context_folds, fit_spectral_path, log_softmax,
                                                    pixel_spectra, pretrained_z, probe_logits, spectral_logits,
                                                    z_rank_bound)
from multimodal_siamese.models.network import MultimodalSiamese

SEEDS = (42, 43, 44)
RATIOS = (0.05, 0.1, 0.2)
PATCH = 5
METHODS = ("default", "lda", "nll_r9", "thirds", "probe_nll", "probe_acc")


def softmax(logits):
    return np.exp(log_softmax(logits))


def probe_asked_for(features, z, rows, cols, y, n_classes, seed, rank_bound):
    """(log-loss rule, accuracy rule): does the LDA averaged with the probe of z beat the LDA alone
    on the training pixels' blocked inner folds?"""
    loss, right = np.zeros(2), np.zeros(2)
    for train, test in context_folds(rows, cols, y, PATCH, seed):
        lda = softmax(spectral_logits(fit_spectral_path(features[train], None, y[train], n_classes, "lda"),
                                      features[test], None))
        mixed = 0.5 * lda + 0.5 * softmax(probe_logits(z[train], y[train], z[test], n_classes, rank_bound))
        for i, p in enumerate((lda, mixed)):
            loss[i] -= np.maximum(np.log(np.maximum(p[np.arange(len(test)), y[test]], 1e-300)),
                                  MIN_LOG_LIKELIHOOD).sum()
            right[i] += (p.argmax(1) == y[test]).sum()
    return bool(loss[1] < loss[0]), bool(right[1] > right[0])


def run(scene):
    arrays, valid, samples = load_scene(scene)
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    n_classes = len(samples.classes)
    codes = np.array([c.code for c in samples.classes])
    source = PatchSource(arrays, PATCH)
    spectra = pixel_spectra(source, rows, cols, PATCH, context=True)
    picks = {(r["seed"], r["fold"], r["ratio"]): r
             for r in json.load(open(os.path.join(OUT, f"context_rules_scores_{scene}.json")))}
    out = []
    for seed in SEEDS:
        ckpt = pretrained_checkpoint(scene, arrays, valid, seed, 25, 8192, PATCH, "ctx")
        siamese = MultimodalSiamese.from_architecture(ckpt["architecture"])
        siamese.load_state_dict(ckpt["state_dict"])
        z = pretrained_z(siamese.projections, siamese.encoder, source, rows, cols)
        rank_bound = z_rank_bound(siamese.projections, siamese.encoder)
        folds = block_folds(rows, cols, 3, 39, PATCH, arrays[0].shape[1:], seed, y)
        for f, (train_all, test) in enumerate(folds):
            for ratio in RATIOS:
                train = training_part(train_all, y, ratio, seed, f)
                parts = np.load(os.path.join(OUT, f"few_labels_{scene}_blocks_cpred_s{seed}_f{f + 1}_r{ratio:g}.npz"))
                assert np.array_equal(parts["y"], y[test])
                default = np.exp(parts["ensemble"].astype(np.float64))
                lda = {False: softmax(parts["lda"]), True: softmax(parts["lda_ctx"])}
                pick = picks[(seed, f + 1, ratio)]
                chosen = pick["pick_nll"]
                if (2 * default - lda[chosen]).min() < -2e-3:  # a near tie that fell the other way here
                    chosen = not chosen
                networks = 2 * default - lda[chosen]
                assert networks.min() > -2e-3
                probe = softmax(probe_logits(z[train], y[train], z[test], n_classes, rank_bound))
                thirds = (networks + lda[chosen] + probe) / 3
                features = spectra if chosen else spectra[:, :spectra.shape[1] // 2]
                by_nll, by_acc = probe_asked_for(features[train], z[train], rows[train], cols[train], y[train],
                                                 n_classes, seed + f, rank_bound)
                methods = {"default": default, "lda": lda[False],
                           "nll_r9": 0.5 * networks + 0.5 * lda[pick["pick_nll_r9"]], "thirds": thirds,
                           "probe_nll": thirds if by_nll else default, "probe_acc": thirds if by_acc else default}
                row = dict(seed=seed, fold=f + 1, ratio=ratio, asked_nll=by_nll, asked_acc=by_acc,
                           nll_r9_changed=pick["pick_nll_r9"] != chosen)
                for name, p in methods.items():
                    row[name] = [round(100 * v, 2) for v in score(codes, samples.classes, y[test],
                                                                   np.log(np.clip(p, 1e-12, 1)))[:2]]
                out.append(row)
                print(json.dumps(row), flush=True)
    with open(os.path.join(OUT, f"rebuild_default_{scene}.json"), "w") as fh:
        json.dump(out, fh)


def table(scenes):
    lines = ["| scene | ratio | " + " | ".join(f"`{m}`" for m in METHODS) + " | runs changed: `nll_r9`, probe by log-loss, by OA |",
             "| --- | --- | " + " | ".join("---" for _ in METHODS) + " | --- |"]
    for scene in scenes:
        rows = json.load(open(os.path.join(OUT, f"rebuild_default_{scene}.json")))
        for ratio in RATIOS:
            runs = [r for r in rows if r["ratio"] == ratio]
            cell = lambda m: "{:.1f} / {:.1f}".format(*np.mean([r[m] for r in runs], 0))  # noqa: E731
            counts = ", ".join(str(sum(r[k] for r in runs)) for k in ("nll_r9_changed", "asked_nll", "asked_acc"))
            lines.append(f"| {scene} | {100 * ratio:g} % | " + " | ".join(cell(m) for m in METHODS) + f" | {counts} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene")
    parser.add_argument("--table", nargs="*")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.table:
        print(table(args.table))
    else:
        run(args.scene)


if __name__ == "__main__":
    main()
