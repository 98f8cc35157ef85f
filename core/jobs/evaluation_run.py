"""The whole 'evaluate' job, QGIS-free: prepare, pretrain where needed, run the protocol, report."""

from __future__ import annotations

import csv
import os
import time
from dataclasses import replace

from ...models.network import shared_views_per_network
from ..errors import InputError
from ..io.inputs import GridOptions
from ..io.labels import LabelFeatures, rasterize_labels, require_plausible_classes
from ..learn.classic import CLASSIC_NAMES
from ..learn.evaluation import (WITHIN_POINTS, EvaluationConfig, against_classic_sentence, against_classic_verdict,
                                csv_rows, evaluate, fold_classes, modality_subsets, networks_added_sentence, points,
                                subset_state, summarise, untested_folds_sentence)
from ..learn.pretraining import PretrainConfig, pretrain
from ..learn.spectral import flips_description
from ..output.atomic import atomic_output, check_output_folder
from ..output.report import HtmlReport, gain_plot_png, run_section, samples_section, write_json
from ..progress import Progress
from ..runtime.version import library_versions
from .classifier_run import load_pretrained, prepare_for_training

METHOD_NAMES = {"random": "network, random init", "pretrained": "network, pretrained (eq. 3)",
                "ensemble": "ensemble (default classifier)",
                "ensemble_random": "ensemble (default classifier), random init",
                "linear": "spectral path alone (CLASSIFIER=linear)",
                "linear_probe": "linear probe of pretrained z",
                "random_forest": "pixel random forest",
                "lda": "shrinkage LDA", "logistic": "logistic regression"}


def run_evaluation(modalities: list, options: GridOptions, labels: LabelFeatures, config: EvaluationConfig,
                   table_path: str, report_path: str | None, subsets_mode: str = "all",
                   pretrained_path: str | None = None, pretrain_config: PretrainConfig | None = None,
                   names: dict | None = None, colors: dict | None = None,
                   progress: Progress | None = None) -> dict:
    progress = progress or Progress()
    started = time.time()
    config.validate()
    check_output_folder(table_path, "evaluation table")
    if report_path:
        check_output_folder(report_path, "evaluation report")
    pretrained = load_pretrained(pretrained_path) if pretrained_path else None
    with prepare_for_training(modalities, options, pretrained, config.seed) as prepared:
        arrays, valid = prepared.read()
        grid = prepared.stack.grid
        slot_names = [info.slot for info in prepared.stack.infos]
    samples = rasterize_labels(labels, grid, valid, names, colors)
    require_plausible_classes(samples, labels)
    if len(samples.rows) < config.folds * 2:
        raise InputError(f"Only {len(samples.rows)} labelled samples fall on valid pixels; the evaluation "
                         f"needs at least {config.folds * 2} for {config.folds} folds.")
    subsets = modality_subsets(slot_names, subsets_mode)
    runs = []
    for seed in config.seed_list():
        states, architecture = {}, None
        if pretrained is not None:
            config.patch_size = pretrained["metadata"]["patch_size"]
            architecture = pretrained["metadata"]["architecture"]
            states = {subset: subset_state(pretrained["state_dict"], subset) for subset in subsets}
        else:
            pretrain_config = pretrain_config or PretrainConfig()
            pretrain_config.patch_size = config.patch_size
            pretrain_config.seed = seed
            for subset in subsets:
                progress.info(f"Pretraining on {', '.join(slot_names[i] for i in subset)} with seed {seed} "
                              "(no labels used).")
                result = pretrain([arrays[i] for i in subset], valid, pretrain_config, progress)
                states[subset] = result.model.state_dict()
                architecture = result.model.architecture()
        runs += evaluate(arrays, samples, replace(config, seed=seed), slot_names, states, subsets,
                         architecture, progress)
    summary = summarise(runs, samples.classes)
    for gain in summary["gains"]:
        if gain["classifier"] == "network" and gain["right_on_lda_misses_pretrained"] is not None:
            progress.info(f"Beside the shrinkage LDA ({gain['modalities']}, ratio {gain['ratio']:g}): of the "
                          "test pixels it misses, the pretrained network gets "
                          f"{100 * gain['right_on_lda_misses_pretrained']:.1f} % right, the random-init one "
                          f"{100 * gain['right_on_lda_misses_random_init']:.1f} %. Only there can pretraining "
                          "raise the default classifier's accuracy.")
    for row in summary["against_classic"]:
        progress.info(against_classic_sentence(row))
    if summary["against_classic"]:
        progress.info(against_classic_verdict(summary["against_classic"]))
    for row in summary["networks_added"]:
        progress.info(networks_added_sentence(row))
    untested = fold_classes(runs, "untested_classes")
    all_folds = len({(run["seed"], run["fold"]) for run in runs})
    if untested:
        progress.warn(untested_folds_sentence(untested, all_folds))
    header, rows = csv_rows(runs, samples.classes)
    with atomic_output(table_path, "evaluation table") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    parameters = dict(split=config.split, folds=config.folds, train_ratios=list(config.train_ratios),
                      block_size=config.block_size if config.split == "blocks" else None,
                      patch_size=config.patch_size, epochs=config.epochs, batch_size=config.batch_size,
                      learning_rate=config.learning_rate or "automatic", forest_trees=config.forest_trees,
                      networks=config.networks, test_time_flips=config.test_time_flips,
                      band_context=config.band_context,
                      views_per_network=shared_views_per_network(config.networks) if config.test_time_flips else None,
                      modality_subsets=subsets_mode, seeds=list(config.seed_list()),
                      pretrained=pretrained_path or "pretrained inside the evaluation")
    result = {"parameters": parameters, "summary": summary,
              "untrained_folds": fold_classes(runs, "untrained_classes"),
              "untested_folds": untested, "all_folds": all_folds,
              "classes": [c.to_dict() for c in samples.classes],
              "samples": {"used_per_class": samples.used_per_class(), "dropped": samples.dropped},
              "seconds": time.time() - started, "versions": library_versions()}
    if report_path:
        write_evaluation_report(report_path, result, samples)
    return result


def _pct(value: dict) -> str:
    if value["mean"] is None:
        return "—"
    return f"{100 * value['mean']:.1f} ± {100 * value['std']:.1f}"


def _pair(gain: dict, share: str) -> str:
    """'pretrained / random init' shares (%) of a gain row, '—' where not recorded."""
    values = [gain.get(f"{share}_{start}") for start in ("pretrained", "random_init")]
    return " / ".join("—" if v is None else f"{100 * v:.1f}" for v in values)


def _versus(value) -> list:
    """[default %, best classic % (name), difference ± std in points] of one metric of a row."""
    if value is None:
        return ["—"] * 3
    return [f"{100 * value['default']:.1f}", f"{100 * value['classic']:.1f} ({CLASSIC_NAMES[value['best_classic']]})",
            points(value["difference"])]


def against_classic_section(report: HtmlReport, rows: list):
    """Table III: is the default classifier worth its minutes on these labels?"""
    if not rows:
        return
    report.heading("Table III — the default classifier against the best classic classifier")
    report.paragraph("For OA and for mIoU, the best classic classifier is the one of the random forest, the "
                     "shrinkage LDA and the logistic regression with the highest mean in that row; the "
                     "difference is the default classifier's score minus that classifier's, run by run on "
                     "the same test pixels (mean ± std over the fold × seed runs, in points). The last two "
                     "columns hold each run against the best of the three classics in that same run: the "
                     f"runs where the default is not lower in OA, and those where it is at most {WITHIN_POINTS:g} "
                     "points lower. Where the default is not ahead, a classic classifier gives a map as "
                     "good in seconds (CLASSIFIER=linear in mmsiam:trainclassifier is a shrinkage LDA "
                     "alone, with no pretraining needed).")
    report.table(["modalities", "ratio", "OA, default", "OA, best classic", "OA difference (points)",
                  "mIoU, default", "mIoU, best classic", "mIoU difference (points)", "runs not worse",
                  f"runs within {WITHIN_POINTS:g} points"],
                 [[r["modalities"], f"{100 * r['ratio']:g} %", *_versus(r["overall_accuracy"]),
                   *_versus(r["mean_iou"]), f"{r['runs_not_worse']} of {r['runs']}",
                   f"{r['runs_within']} of {r['runs']}"] for r in rows])
    report.paragraph(against_classic_verdict(rows))


def _added(value: dict) -> list:
    """[default %, spectral path alone %, difference ± std in points] of one metric of a row."""
    if value["default"] is None:
        return ["—"] * 3
    return [f"{100 * value['default']:.1f}", f"{100 * value['linear']:.1f}", points(value["difference"])]


def networks_added_section(report: HtmlReport, rows: list):
    """Table IV: what the pretrained networks add to the default's spectral path alone."""
    if not rows:
        return
    report.heading("Table IV — what the networks add to the spectral path alone")
    report.paragraph("The default classifier averages its networks' class probabilities with those of a "
                     "spectral path (a shrinkage LDA on each pixel's bands, and the patch's mean spectrum "
                     "where your labels ask for it). CLASSIFIER=linear in mmsiam:trainclassifier is that "
                     "path alone: no pretraining and no network, a map in seconds. The difference is the "
                     "default's score minus the path's, run by run on the same test pixels (mean ± std over "
                     "the fold × seed runs, in points). Where it is near zero, the networks (and the "
                     "minutes of pretraining) do not change your map, and CLASSIFIER=linear gives it as "
                     "well.")
    report.table(["modalities", "ratio", "OA, default", "OA, linear", "OA difference (points)",
                  "mIoU, default", "mIoU, linear", "mIoU difference (points)", "runs not worse"],
                 [[r["modalities"], f"{100 * r['ratio']:g} %", *_added(r["overall_accuracy"]),
                   *_added(r["mean_iou"]), f"{r['runs_not_worse']} of {r['runs']}"] for r in rows])


def write_evaluation_report(path: str, result: dict, samples):
    parameters, summary = result["parameters"], result["summary"]
    report = HtmlReport("Evaluation: the classifiers against the classic ones, pretrained vs random init")
    seeds = parameters["seeds"]
    report.paragraph(f"{parameters['folds']}-fold cross-validation, '{parameters['split']}' split, training "
                     f"on a stratified fraction of each training fold, repeated for {len(seeds)} seed(s) "
                     f"({', '.join(map(str, seeds))}): each seed draws its own folds, pretraining and "
                     "network initialisation. Mean ± std over all fold × seed runs, in %; 'OA per seed' "
                     "is each seed's mean over folds. The classic classifiers (random forest, shrinkage "
                     "LDA, logistic regression) see the centre pixel's bands of every modality. The "
                     f"default classifier averages {parameters.get('networks', 1)} training(s) of the "
                     "pretrained network (the first is the 'pretrained' row)"
                     + (f", {flips_description(parameters.get('networks', 1), parameters.get('views_per_network', 8))},"
                        if parameters.get("test_time_flips") else "")
                     + " with the shrinkage LDA; its "
                     "'random init' row does the same with networks trained from random weights (the "
                     "first is the 'random init' row), so the two rows show what pretraining adds; "
                     "'spectral path alone' is the same LDA without any network (CLASSIFIER=linear).")
    if parameters["split"] == "random":
        report.warning("Random split: neighbouring labelled pixels share most of a patch, so test pixels "
                       "leak into training patches and the figures are optimistic. Run again with "
                       "SPLIT=blocks for an honest estimate.")
    else:
        report.paragraph(f"Spatial blocks of {parameters['block_size']} px; training pixels within "
                         f"PATCH_SIZE//2 = {parameters['patch_size'] // 2} px of a test pixel are dropped, "
                         "so no patch straddles training and test.")
    lacking = sorted({(run["seed"], run["fold"], name, n) for run in result.get("untrained_folds", [])
                      for name, n in run["classes"].items()})
    if lacking:
        report.warning("Some test folds hold classes that their training part lacks (all of the class's "
                       "labels lie in that fold's blocks), so every classifier misses those test pixels "
                       "and the fold tells the methods apart less: "
                       + "; ".join(f"seed {seed}, fold {fold}: '{name}' ({n} test pixel{'s' * (n != 1)})"
                                   for seed, fold, name, n in lacking)
                       + ". Use a smaller BLOCK_SIZE or fewer FOLDS.")
    if result.get("untested_folds"):
        report.warning(untested_folds_sentence(result["untested_folds"], result["all_folds"]))
    report.heading("Table I — accuracy per training ratio")
    report.table(["modalities", "ratio", "method", "OA", "AA", "mIoU", "kappa", "OA per seed"],
                 [[r["modalities"], f"{100 * r['ratio']:g} %", METHOD_NAMES[r["method"]], _pct(r["overall_accuracy"]),
                   _pct(r["average_accuracy"]), _pct(r["mean_iou"]),
                   "—" if r["kappa"]["mean"] is None else f"{r['kappa']['mean']:.3f}",
                   ", ".join("—" if s["overall_accuracy"] is None else f"{100 * s['overall_accuracy']:.1f}"
                             for s in r["per_seed"])] for r in summary["table"]])
    report.heading("Table II — IoU per class")
    class_names = [c["name"] for c in result["classes"]]
    report.table(["modalities", "ratio", "method"] + class_names,
                 [[r["modalities"], f"{100 * r['ratio']:g} %", METHOD_NAMES[r["method"]]]
                  + [_pct(r["iou"][n]) for n in class_names] for r in summary["table"]])
    against_classic_section(report, summary["against_classic"])
    networks_added_section(report, summary.get("networks_added", []))
    if summary["gains"]:
        report.heading("Fig. 3 — gain of pretrained over random initialisation")
        report.paragraph("Each run's accuracy with the pretrained encoder minus the same classifier's "
                         "trained from random weights on the same pixels: for the network alone (eq. 3) "
                         "and for the default classifier. Mean ± std over the fold × seed runs, in "
                         "points; 'runs not worse' counts the runs where pretraining did not lose.")
        report.paragraph("Beside the shrinkage LDA: of the test pixels the LDA misses, the share each "
                         "side gets right, and of those it gets, the share each side misses (pooled over "
                         "the runs, %, pretrained / random init). The default classifier averages the "
                         "networks with the LDA, so pretraining can raise its accuracy only where the "
                         "pretrained network is right on more of the LDA's misses; a network made better "
                         "only where the LDA is already right leaves the default's map as it was.")
        report.image_png(gain_plot_png(summary["gains"]), "gain of pretraining")
        report.table(["modalities", "classifier", "ratio", "OA gain (points)", "mIoU gain (points)",
                      "runs not worse", "right on the LDA's misses", "wrong on the LDA's hits"],
                     [[g["modalities"], g["classifier"], f"{100 * g['ratio']:g} %", _pct(g["oa_gain"]),
                       _pct(g["miou_gain"]), f"{g['runs_not_worse']} of {g['runs']}",
                       _pair(g, "right_on_lda_misses"), _pair(g, "wrong_on_lda_hits")]
                      for g in summary["gains"]])
    samples_section(report, samples.used_per_class(), samples.dropped, samples.empty_class_features)
    run_section(report, parameters, result["seconds"], result["versions"])
    report.write(path)
    write_json(os.path.splitext(path)[0] + ".json", result)

