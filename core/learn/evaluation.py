"""The paper's protocol (section III-A) on the analyst's own data, with honest splits.

For every seed × fold × training ratio (× modality subset): the fusion network of eq. (3) from
random weights and from pretrained weights, the default 'ensemble' classifier (the pretrained
network and its fine-tunings from further seeds, averaged with a spectral linear path,
:mod:`.spectral`) and the same classifier with its networks trained from random weights (what
pretraining adds to the default), the linear probe of the
pretrained z (logistic regression on it: the usual figure of a self-supervised representation),
the default's spectral path alone (``linear``: ``CLASSIFIER=linear``, the map in seconds without
any network, so that the report can say what the networks add to it), and three classic
classifiers on the centre pixel's standardised bands: a random forest (the classic QGIS workflow),
a shrinkage LDA and a logistic regression (a few clicks in EnMAP-Box).

* ``random`` split: stratified k-fold over labelled pixels, as in the paper. With dense labels a
  test pixel's patch overlaps its training neighbours' patches: optimistic.
* ``blocks`` split: square blocks of BLOCK_SIZE px go to folds at random, and training pixels
  closer than PATCH_SIZE//2 (Chebyshev distance) to any test pixel are dropped, so no training
  patch contains a test pixel's centre and vice versa.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError
from ..io.labels import LabelSamples
from ..progress import Progress
from .classic import CLASSIC_METHODS, CLASSIC_NAMES, classic_predictions
from .finetune import (DEFAULT_NETWORKS, DEFAULT_TEST_TIME_FLIPS, ClassifierConfig, ensemble_seeds,
                       predict_samples, train_classifier)
from .folds import (BLOCK_ASSIGNMENT_TRIES, block_folds, random_folds, subsample,  # noqa: F401
                    unlearnable_test_samples, untested_classes)
from .metrics import accuracy_assessment
from .pretraining import DEFAULT_PATCH_SIZE, PatchSource
from .spectral import (DEFAULT_BAND_CONTEXT, add_spectral_path, check_band_context, pixel_spectra,
                       pretrained_siamese, pretrained_z, probe_logits, resolve_band_context, spectral_path_alone,
                       training_spectra, z_rank_bound)

METHODS = ("random", "pretrained", "ensemble_random", "ensemble", "linear", "linear_probe", "random_forest",
           "lda", "logistic")
# (pretrained, random-init twin) pairs whose gain the report shows, the paper's Fig. 3: the network
# alone, and the default classifier
GAIN_PAIRS = (("pretrained", "random", "network"), ("ensemble", "ensemble_random", "default classifier"))
# a run within this many OA points of the best classic classifier in the same run is 'within reach'
WITHIN_POINTS = 2.0
SPLITS = ("random", "blocks")


def within_reach(behind: float) -> bool:
    """Whether a run whose OA is ``behind`` (a fraction) below the best classic of the same run is
    within reach: at most WITHIN_POINTS OA points below, rounding error forgiven."""
    return behind <= WITHIN_POINTS / 100 + 1e-12


@dataclass
class EvaluationConfig:
    folds: int = 5
    train_ratios: tuple = (0.05, 0.1, 0.2, 0.4, 1.0)
    split: str = "random"
    block_size: int = 39          # several patch widths (three at the paper's PATCH_SIZE 13)
    patch_size: int = DEFAULT_PATCH_SIZE
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.0    # 0 = the classifier's automatic rates
    forest_trees: int = 300
    networks: int = DEFAULT_NETWORKS  # the default classifier's fine-tunings of g
    test_time_flips: bool = DEFAULT_TEST_TIME_FLIPS  # and its networks' test-time flips and rotations
    band_context: str = DEFAULT_BAND_CONTEXT  # and its spectral path's patch mean (auto / off / on)
    seed: int = 42
    device: str = "cpu"
    seeds: tuple = ()             # several seeds: the whole protocol once per seed; () = (seed,)

    def seed_list(self) -> tuple:
        return tuple(self.seeds) or (self.seed,)

    def validate(self):
        if self.folds < 2:
            raise InputError("FOLDS must be at least 2.")
        if self.split not in SPLITS:
            raise InputError(f"SPLIT must be one of {', '.join(SPLITS)}.")
        if not self.train_ratios or any(not 0 < r <= 1 for r in self.train_ratios):
            raise InputError("TRAIN_RATIOS must be fractions greater than 0 and at most 1, e.g. "
                             "0.05,0.1,0.2,0.4,1.0.")
        if self.block_size < 1:
            raise InputError("BLOCK_SIZE must be at least 1 pixel.")
        if self.networks < 1:
            raise InputError("NETWORKS must be at least 1.")
        check_band_context(self.band_context)


def _parse_list(text: str, name: str, cast, kind: str, example: str) -> tuple:
    try:
        return tuple(cast(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError as exc:
        raise InputError(f"{name} '{text}' is not a comma-separated list of {kind}, e.g. {example}.") from exc


def parse_ratios(text: str) -> tuple:
    """'0.05,0.2' → (0.05, 0.2)."""
    return _parse_list(text, "TRAIN_RATIOS", float, "numbers", "0.05,0.1,0.2,0.4,1.0")


def parse_seeds(text: str) -> tuple:
    """'42,43,44' → (42, 43, 44); empty → ()."""
    seeds = _parse_list(text, "SEEDS", int, "whole numbers", "42,43,44")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"SEEDS '{text}' repeats a seed; give each seed once.")
    return seeds


def modality_subsets(names: list, mode: str) -> list:
    """'all' → [all]; 'every' → every non-empty subset, smallest first (H, M, S, HM, ... HMS)."""
    indices = range(len(names))
    if mode == "all":
        return [tuple(indices)]
    return [combo for n in range(1, len(names) + 1) for combo in itertools.combinations(indices, n)]


def subset_state(state: dict, subset: tuple) -> dict:
    """A pretrained state dict restricted to the projections of ``subset`` (renumbered)."""
    out = {k: v for k, v in state.items() if not k.startswith("projections.")}
    for new, old in enumerate(subset):
        prefix = f"projections.{old}."
        out.update({f"projections.{new}." + k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    return out


def evaluate(arrays: list, samples: LabelSamples, config: EvaluationConfig, modality_names: list,
             pretrained: dict, subsets: list, architecture: dict | None = None,
             progress: Progress | None = None) -> list:
    """Run every fold × ratio × subset × method for ``config.seed``; return one plain dict per run.

    ``pretrained`` maps a subset (tuple of modality indices) to a pretrained state dict."""
    config.validate()
    progress = progress or Progress()
    rows, cols, y = samples.rows, samples.cols, samples.class_index
    if config.split == "random":
        folds = random_folds(y, config.folds, config.seed)
    else:
        folds = block_folds(rows, cols, config.folds, config.block_size, config.patch_size,
                            arrays[0].shape[1:], config.seed, y)
    unlearnable = unlearnable_test_samples(folds, y)
    for f, lacking in enumerate(unlearnable):
        if lacking:
            progress.warn(f"Seed {config.seed}, fold {f + 1} tests "
                          + ", ".join(f"class '{samples.classes[k].name}' ({n} pixel{'s' * (n != 1)})" for k, n in lacking.items())
                          + f" but trains on none of it: all its labels lie in this fold's {config.block_size}-px "
                          "blocks, so every classifier misses those test pixels. Use a smaller BLOCK_SIZE or "
                          "fewer FOLDS.")
    untested = untested_classes(folds, y)
    codes = np.array([c.code for c in samples.classes])
    runs = []
    total = len(folds) * len(config.train_ratios) * len(subsets)
    for f, (train_all, test) in enumerate(folds):
        for ratio in config.train_ratios:
            train = subsample(train_all, y, ratio, np.random.default_rng(config.seed + f))
            for subset in subsets:
                subset_arrays = [arrays[i] for i in subset]
                # padded once here, shared by the fusion classifiers' training and prediction
                source = PatchSource(subset_arrays, config.patch_size)
                label = "".join(modality_names[i][0] for i in subset) if len(subsets) > 1 else "all"
                predictions = _fit_predict_all(subset_arrays, source, rows, cols, y, train, test, config,
                                               pretrained.get(subset), architecture, len(samples.classes),
                                               f, progress)
                scores = []
                lda_right = predictions["lda"] == y[test]
                for method in METHODS:
                    assessment = accuracy_assessment(codes[y[test]], codes[predictions[method]],
                                                     samples.classes)
                    right = predictions[method] == y[test]
                    runs.append({"seed": config.seed, "fold": f + 1, "ratio": ratio, "modalities": label,
                                 "method": method, "train_samples": int(len(train)),
                                 "test_samples": int(len(test)), "assessment": assessment,
                                 "beside_lda": {"lda_misses": int((~lda_right).sum()),
                                                "right_on_lda_misses": int((right & ~lda_right).sum()),
                                                "lda_hits": int(lda_right.sum()),
                                                "wrong_on_lda_hits": int((~right & lda_right).sum())},
                                 "untrained_classes": {samples.classes[k].name: n
                                                       for k, n in unlearnable[f].items()},
                                 "untested_classes": [samples.classes[k].name for k in untested[f]]})
                    scores.append(f"{method} {100 * assessment['overall_accuracy']:.1f}")
                progress.set_percent(100.0 * len(runs) / (total * len(METHODS)))
                progress.info(f"seed {config.seed}  fold {f + 1}/{len(folds)}  ratio {ratio:g}  {label} "
                              f"({len(train)} train, {len(test)} test), OA %: " + ", ".join(scores))
    return runs


def _fit_predict_all(arrays, source, rows, cols, y, train, test, config, state, architecture, n_classes,
                     fold, progress) -> dict:
    """Predicted class indices of the test pixels, per method, all trained on the same pixels."""
    if len(np.unique(y[train])) < 2:
        raise InputError("A training fold holds fewer than two classes; use more labels, fewer folds or a "
                         "larger training ratio.")
    if state is None:
        raise InputError("No pretrained weights for this modality subset.")
    predictions = {}
    bands = pixel_spectra(arrays, rows, cols, config.patch_size)  # centre pixels' bands
    predictions.update(classic_predictions(bands[train], y[train], bands[test], n_classes,
                                           config.forest_trees, config.seed + fold))
    classifier_config = ClassifierConfig(patch_size=config.patch_size, epochs=config.epochs,
                                         batch_size=config.batch_size, learning_rate=config.learning_rate,
                                         seed=config.seed + fold, device=config.device, classifier="network")
    starts = {"random": (None, None), "pretrained": (state, architecture)}  # (weights, their architecture)
    networks = {}
    for method, start in starts.items():
        progress.check()
        result = train_classifier(source, rows[train], cols[train], y[train], n_classes, classifier_config, *start)
        predictions[method], _ = predict_samples(result.model, source, rows[test], cols[test], result.device)
        networks[method] = result.model.cpu()
    # linear probe: the usual figure of a self-supervised representation (logistic regression on z)
    siamese = pretrained_siamese(state, dict(architecture, band_counts=source.band_counts))
    z_train, z_test = (pretrained_z(siamese.projections, siamese.encoder, source, rows[i], cols[i])
                       for i in (train, test))
    predictions["linear_probe"] = probe_logits(z_train, y[train], z_test, n_classes,
                                               z_rank_bound(siamese.projections, siamese.encoder)).argmax(1)
    # the default classifier, as mmsiam:trainclassifier builds it: the same pretrained network and
    # its fine-tunings from the further seeds, beside the spectral linear path; and its twin with
    # every network trained from random weights (the 'random' network and further seeds)
    spectra = training_spectra(config.band_context, source, rows[train], cols[train], config.patch_size)
    choice = resolve_band_context(config.band_context, spectra, rows[train], cols[train], y[train], n_classes,
                                  config.patch_size, classifier_config.seed, progress.check)
    progress.info("  the default classifier's spectral path: " + choice.sentence(config.patch_size))
    for method, first in (("ensemble", "pretrained"), ("ensemble_random", "random")):
        members = []
        for seed in ensemble_seeds(classifier_config.seed, config.networks)[1:]:
            progress.check()
            members.append(train_classifier(source, rows[train], cols[train], y[train], n_classes,
                                            replace(classifier_config, seed=seed), *starts[first]).model.cpu())
        ensemble = add_spectral_path(networks[first], source, rows[train], cols[train], y[train], "ensemble",
                                     *starts[first], context=choice.use, members=members,
                                     test_time_flips=config.test_time_flips, spectra=spectra)
        predictions[method], _ = predict_samples(ensemble, source, rows[test], cols[test])
        if method == "ensemble":  # CLASSIFIER=linear: the default's own spectral path alone, no network run
            predictions["linear"], _ = predict_samples(spectral_path_alone(ensemble), source, rows[test], cols[test])
    return predictions


def summarise(runs: list, classes: list) -> dict:
    """Mean ± std over fold × seed runs per (modalities, ratio, method): OA, AA, mIoU, kappa,
    per-class IoU, the per-seed mean OA and mIoU, and the gain of pretrained over random
    initialisation (the paper's Fig. 3), of the network alone and of the default classifier, with
    where each side stands beside the shrinkage LDA (:func:`_beside_lda`); the default against the
    best classic classifier (:func:`against_best_classic`) and against its spectral path alone
    (:func:`networks_added`)."""
    groups = {}
    for run in runs:
        groups.setdefault((run["modalities"], run["ratio"], run["method"]), []).append(run)
    table = []
    for (modalities, ratio, method), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], METHODS.index(kv[0][2]))):
        assessments = [run["assessment"] for run in group]
        row = {"modalities": modalities, "ratio": ratio, "method": method, "folds": len(assessments)}
        for key in ("overall_accuracy", "average_accuracy", "mean_iou", "kappa"):
            values = [a[key] for a in assessments if a[key] is not None]
            row[key] = _mean_std(values)
        row["iou"] = {c.name: _mean_std([a["per_class"][k]["iou"] for a in assessments
                                         if a["per_class"][k]["iou"] is not None])
                      for k, c in enumerate(classes)}
        seeds = sorted({run["seed"] for run in group})
        row["per_seed"] = [{"seed": s, **{key: _mean_std([r["assessment"][key] for r in group if r["seed"] == s
                                                          and r["assessment"][key] is not None])["mean"]
                                          for key in ("overall_accuracy", "mean_iou")}} for s in seeds]
        table.append(row)
    gains = []
    for (modalities, ratio, method), group in groups.items():
        for pretrained, twin, classifier in GAIN_PAIRS:
            if method != pretrained or (modalities, ratio, twin) not in groups:
                continue
            assessments = [run["assessment"] for run in group]
            base = [run["assessment"] for run in groups[(modalities, ratio, twin)]]
            oa = [a["overall_accuracy"] - b["overall_accuracy"] for a, b in zip(assessments, base)]
            gains.append({"modalities": modalities, "ratio": ratio, "classifier": classifier,
                          "oa_gain": _mean_std(oa),
                          "miou_gain": _mean_std([a["mean_iou"] - b["mean_iou"] for a, b in zip(assessments, base)]),
                          "runs_not_worse": int(sum(d >= 0 for d in oa)), "runs": len(oa),
                          **{f"{share}_{start}": _beside_lda(runs_of, share)
                             for share in ("right_on_lda_misses", "wrong_on_lda_hits")
                             for start, runs_of in (("pretrained", group),
                                                    ("random_init", groups[(modalities, ratio, twin)]))}})
    order = [classifier for _, _, classifier in GAIN_PAIRS]
    gains.sort(key=lambda g: (g["modalities"], order.index(g["classifier"]), g["ratio"]))
    return {"table": table, "gains": gains, "against_classic": against_best_classic(groups),
            "networks_added": networks_added(groups)}


def networks_added(groups: dict) -> list:
    """Per (modalities, ratio): the default classifier minus its spectral path alone
    (``CLASSIFIER=linear``), run by run on the same pixels, in OA and mIoU, and the runs where the
    default is not lower in OA: what the pretrained networks add to the map. Where they add nothing,
    ``CLASSIFIER=linear`` gives the same map in seconds, without pretraining."""
    rows = []
    for (modalities, ratio, method), group in sorted(groups.items(), key=lambda kv: kv[0][:2]):
        if method != "ensemble" or (modalities, ratio, "linear") not in groups:
            continue
        linear = {(r["seed"], r["fold"]): r["assessment"] for r in groups[(modalities, ratio, "linear")]}
        pairs = [(r["assessment"], linear[(r["seed"], r["fold"])]) for r in group if (r["seed"], r["fold"]) in linear]
        row = {"modalities": modalities, "ratio": ratio, "runs": len(pairs)}
        for metric in ("overall_accuracy", "mean_iou"):
            usable = [(a[metric], b[metric]) for a, b in pairs if a[metric] is not None and b[metric] is not None]
            row[metric] = {"default": _mean_std([a for a, _ in usable])["mean"],
                           "linear": _mean_std([b for _, b in usable])["mean"],
                           "difference": _mean_std([a - b for a, b in usable])}
        row["runs_not_worse"] = int(sum(a["overall_accuracy"] >= b["overall_accuracy"] - 1e-12 for a, b in pairs))
        rows.append(row)
    return rows


def networks_added_sentence(row: dict) -> str:
    """One line for the log: what the networks add to the default's spectral path alone."""
    parts = []
    for metric, label in (("overall_accuracy", "OA"), ("mean_iou", "mIoU")):
        value = row[metric]
        if value["default"] is None:
            continue
        parts.append(f"{label} {100 * value['default']:.1f} % against {100 * value['linear']:.1f} % "
                     f"({points(value['difference'])} points per run)")
    return (f"The default classifier against its spectral path alone, CLASSIFIER=linear ({row['modalities']}, "
            f"ratio {row['ratio']:g}): " + "; ".join(parts) + f"; not worse in OA in {row['runs_not_worse']} "
            f"of {row['runs']} runs.")


def against_best_classic(groups: dict) -> list:
    """Per (modalities, ratio): the default classifier against the best classic classifier, the
    issue's question for the analyst's own labels. For OA and for mIoU, the best classic is the one
    of forest, shrinkage LDA and logistic regression with the highest mean over the runs, and the
    difference is paired run by run (same pixels). Per run, the default is also held against the best
    classic of that run: ``runs_not_worse`` counts the runs where it scores at least as high in OA,
    ``runs_within`` those where it is at most WITHIN_POINTS OA points below."""
    rows = []
    for (modalities, ratio, method), group in sorted(groups.items(), key=lambda kv: kv[0][:2]):
        classics = {c: groups[(modalities, ratio, c)] for c in CLASSIC_METHODS if (modalities, ratio, c) in groups}
        if method != "ensemble" or not classics:
            continue
        default = {(r["seed"], r["fold"]): r["assessment"] for r in group}
        scored = {c: {(r["seed"], r["fold"]): r["assessment"] for r in runs} for c, runs in classics.items()}
        keys = sorted(k for k in default if all(k in s for s in scored.values()))
        if not keys:
            continue
        row = {"modalities": modalities, "ratio": ratio, "runs": len(keys)}
        for metric in ("overall_accuracy", "mean_iou"):
            usable = [k for k in keys if default[k][metric] is not None
                      and all(s[k][metric] is not None for s in scored.values())]
            if not usable:
                row[metric] = None
                continue
            means = {c: float(np.mean([s[k][metric] for k in usable])) for c, s in scored.items()}
            best = max(means, key=lambda c: (means[c], -CLASSIC_METHODS.index(c)))
            row[metric] = {"best_classic": best, "classic": means[best],
                           "default": float(np.mean([default[k][metric] for k in usable])),
                           "difference": _mean_std([default[k][metric] - scored[best][k][metric] for k in usable])}
        behind = [max(s[k]["overall_accuracy"] for s in scored.values()) - default[k]["overall_accuracy"]
                  for k in keys]
        row["runs_not_worse"] = int(sum(b <= 1e-12 for b in behind))
        row["runs_within"] = int(sum(within_reach(b) for b in behind))
        rows.append(row)
    return rows


def against_classic_verdict(rows: list) -> str:
    """One sentence over all rows: in how many the default's mean is at least the best classic's, in
    OA and in mIoU, and how many runs were within reach of their run's best classic."""
    def count(metric):
        scored = [r[metric] for r in rows if r[metric] is not None]
        return f"{sum(v['default'] >= v['classic'] for v in scored)} of {len(scored)}"

    within, runs = sum(r["runs_within"] for r in rows), sum(r["runs"] for r in rows)
    return (f"Of the settings evaluated (training ratio × modalities), the default classifier's mean is at "
            f"least the best classic classifier's in OA in {count('overall_accuracy')} and in mIoU in "
            f"{count('mean_iou')}; {within} of its {runs} runs were within {WITHIN_POINTS:g} OA points of the "
            "best classic of the same run.")


def against_classic_sentence(row: dict) -> str:
    """One line for the log: where the default classifier stands against the best classic one."""
    parts = []
    for metric, label in (("overall_accuracy", "OA"), ("mean_iou", "mIoU")):
        value = row[metric]
        if value is None:
            continue
        difference = value["difference"]
        parts.append(f"{label} {100 * value['default']:.1f} % against {100 * value['classic']:.1f} % for the "
                     f"{CLASSIC_NAMES[value['best_classic']]} ({points(difference)} points per run)")
    return (f"The default classifier against the best classic classifier ({row['modalities']}, ratio "
            f"{row['ratio']:g}): " + "; ".join(parts) + f". Per run, against the best of the three classics "
            f"in that run: not worse in OA in {row['runs_not_worse']} of {row['runs']}, within "
            f"{WITHIN_POINTS:g} points in {row['runs_within']} of {row['runs']}.")


def _beside_lda(runs: list, share: str):
    """Pooled over ``runs``: the share of the pixels the shrinkage LDA misses that a method gets right
    (``right_on_lda_misses``), or of those it gets that the method misses (``wrong_on_lda_hits``).
    Only where a network is right and the LDA wrong can averaging it in raise the default's accuracy.
    None where the runs do not record it, or the LDA made no such pixels."""
    if not all("beside_lda" in run for run in runs):
        return None
    base = "lda_misses" if share == "right_on_lda_misses" else "lda_hits"
    total = sum(run["beside_lda"][base] for run in runs)
    return sum(run["beside_lda"][share] for run in runs) / total if total else None


def fold_classes(runs: list, key: str) -> list:
    """The (seed, fold) pairs whose runs name classes under ``key`` (``untrained_classes``: tested but
    never trained on; ``untested_classes``: labelled but not tested), with those classes, in order."""
    found = {(run["seed"], run["fold"]): run[key] for run in runs if run.get(key)}
    return [{"seed": seed, "fold": fold, "classes": classes} for (seed, fold), classes in sorted(found.items())]


def untested_folds_sentence(folds: list, all_folds: int) -> str:
    """Why a fold that tests only some classes scores AA, mIoU and kappa differently, for the log and report."""
    listed = "; ".join(f"seed {f['seed']}, fold {f['fold']}: " + ", ".join(f"'{name}'" for name in f["classes"])
                       for f in folds)
    return (f"{len(folds)} of {all_folds} test folds hold no labelled pixel of some classes ({listed}). "
            "Their AA, mIoU and kappa describe only the classes they do hold (a fold with a single class "
            "scores an mIoU equal to its OA and a kappa of 0, or none where every pixel is right), so the "
            "means over folds mix different measures. Use fewer FOLDS or a smaller BLOCK_SIZE so that every "
            "fold tests every class.")


def points(value: dict) -> str:
    """A paired difference of shares as '+1.2 ± 0.3' (points), a rounded zero without its sign."""
    return f"{round(100 * value['mean'], 1) + 0.0:+.1f} ± {100 * value['std']:.1f}"


def _mean_std(values: list) -> dict:
    if not values:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def csv_rows(runs: list, classes: list) -> tuple:
    """Header and rows for OUTPUT_TABLE: one row per seed × fold × ratio × modalities × method, with
    the run's shares beside the shrinkage LDA (of the LDA's misses, right; of its hits, wrong)."""
    header = ["seed", "fold", "ratio", "modalities", "method", "train_samples", "test_samples", "OA", "AA",
              "kappa", "mIoU", "right_on_lda_misses", "wrong_on_lda_hits"] + [f"IoU {c.name}" for c in classes]
    rows = []
    for run in runs:
        a = run["assessment"]
        rows.append([run["seed"], run["fold"], run["ratio"], run["modalities"], run["method"], run["train_samples"],
                     run["test_samples"], a["overall_accuracy"], a["average_accuracy"], a["kappa"],
                     a["mean_iou"], _csv_share(_beside_lda([run], "right_on_lda_misses")),
                     _csv_share(_beside_lda([run], "wrong_on_lda_hits"))] + [pc["iou"] for pc in a["per_class"]])
    return header, rows


def _csv_share(share):
    """A share for the CSV: empty where it is undefined (an LDA without a miss, or a hit)."""
    return "" if share is None else share
