"""The whole 'train classifier' job, QGIS-free: labels → split → train → assess → save → report."""

from __future__ import annotations

import os
import time
from dataclasses import asdict

import numpy as np

from ...models.checkpoint import CheckpointError, load_checkpoint
from ..errors import InputError
from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, PreparedInputs, prepare, prepare_like
from ..io.labels import ClassInfo, LabelFeatures, rasterize_labels, require_plausible_classes
from ..io.scene import DEFAULT_TRAINING_MEMORY_MB, label_inputs
from ..learn.classic import CLASSIC_METHODS, CLASSIC_NAMES, classic_predictions
from ..learn.finetune import (
    ClassifierConfig, config_to_dict, predict_samples, reported_settings, stratified_split, train_classifier)
from ..learn.metrics import accuracy_assessment
from ..learn.spectral import flips_description, pixel_spectra, spectral_description, spectral_path_alone
from ..output.atomic import check_output_folder
from ..progress import Progress
from .run_record import save_run


def load_pretrained(path: str) -> dict:
    checkpoint = load_checkpoint(path, expected_kind="pretrained", needed_by="the classifier training")
    metadata = checkpoint["metadata"]
    if not all(key in metadata for key in ("modalities", "patch_size", "architecture")):
        raise CheckpointError(f"Model file '{path}' is a damaged pretraining checkpoint (its "
                              "description is incomplete). Run the pretraining again.", path)
    return checkpoint


def prepare_for_training(modalities: list, options: GridOptions, pretrained: dict | None,
                         seed: int) -> PreparedInputs:
    if pretrained is None:
        return prepare(modalities, options, seed)
    return prepare_like(modalities, pretrained["metadata"]["modalities"], options, "pretrained model")


def train_job(modalities: list, options: GridOptions, config: ClassifierConfig, model_path: str,
              report_path: str | None, pretrained_path: str | None, progress: Progress,
              memory_mb: float, labels: LabelFeatures, names: dict | None = None,
              colors: dict | None = None, validation: LabelFeatures | None = None,
              train_ratio: float = 0.7) -> dict:
    """The whole 'train classifier' job (mmsiam:trainclassifier, mmsiam:mapfromlabels): check the
    settings and output folders, align the rasters like the pretrained model, train, assess, save;
    returns the checkpoint's metadata."""
    config.validate()
    check_output_folder(model_path, "classifier model")
    if report_path:
        check_output_folder(report_path, "report")
    pretrained = load_pretrained(pretrained_path) if pretrained_path else None
    with job_block_cache(memory_mb):
        with prepare_for_training(modalities, options, pretrained, config.seed) as prepared:
            return train_and_save(prepared, labels, config, model_path, report_path, train_ratio, validation,
                                  names, colors, pretrained, pretrained_path, progress, memory_mb)


def train_and_save(prepared: PreparedInputs, labels: LabelFeatures, config: ClassifierConfig,
                   model_path: str, report_path: str | None = None, train_ratio: float = 1.0,
                   validation: LabelFeatures | None = None, names: dict | None = None,
                   colors: dict | None = None, pretrained: dict | None = None,
                   pretrained_path: str | None = None, progress: Progress | None = None,
                   memory_mb: float = DEFAULT_TRAINING_MEMORY_MB) -> dict:
    """Train g on the labels, assess it on held-out samples, save checkpoint and report.

    Memory stays within ``memory_mb``: a larger scene is not read whole, only the labels'
    patches (:mod:`.scene`). Returns the classifier checkpoint's metadata."""
    progress = progress or Progress()
    started = time.time()
    valid = prepared.valid_mask()
    samples = usable_label_samples(labels, prepared, valid, names, progress, colors)
    classes = samples.classes
    names_list = [c.name for c in classes]
    if validation is not None:
        train_idx = np.arange(len(samples.rows))
        val_samples = rasterize_labels(validation, prepared.stack.grid, valid, classes=classes)
        _require_usable_samples(val_samples, validation, prepared, "validation")
        val_rows, val_cols, val_targets = val_samples.rows, val_samples.cols, val_samples.class_index
    else:
        train_idx, val_idx = stratified_split(samples.class_index, train_ratio, config.seed, names_list)
        val_rows, val_cols = samples.rows[val_idx], samples.cols[val_idx]
        val_targets = samples.class_index[val_idx]
    missing = [names_list[k] for k in range(len(classes)) if not (samples.class_index[train_idx] == k).any()]
    if missing:
        raise InputError(f"No usable training sample for class(es) {', '.join(missing)}: their labels "
                         "fall outside the common extent or on pixels without data in every "
                         "modality. Move or add labels, or remove these classes.")
    if pretrained is not None:
        patch = pretrained["metadata"]["patch_size"]
        if config.patch_size != patch:
            progress.info(f"Using the pretrained model's patch size {patch}.")
            config.patch_size = patch
    arrays = label_inputs(prepared, np.concatenate([samples.rows[train_idx], val_rows]),
                          np.concatenate([samples.cols[train_idx], val_cols]), config.patch_size,
                          memory_mb, progress)
    result = train_classifier(arrays, samples.rows[train_idx], samples.cols[train_idx],
                              samples.class_index[train_idx], len(classes), config,
                              None if pretrained is None else pretrained["state_dict"],
                              None if pretrained is None else pretrained["metadata"]["architecture"],
                              progress)
    assessment = None
    if len(val_rows):
        predicted, _ = predict_samples(result.model, arrays, val_rows, val_cols, result.device)
        codes = np.array([c.code for c in classes])
        assessment = accuracy_assessment(codes[val_targets], codes[predicted], classes)
        progress.info(f"Validation on {len(val_rows)} held-out samples: overall accuracy "
                      f"{100 * assessment['overall_accuracy']:.1f} %, kappa {assessment['kappa']:.3f}.")
        baselines = classic_baselines(arrays, samples.rows[train_idx], samples.cols[train_idx],
                                      samples.class_index[train_idx], val_rows, val_cols, val_targets,
                                      classes, config, progress)
        path_alone = spectral_path_score(result.model, arrays, val_rows, val_cols, val_targets, classes,
                                         result.device, progress)
    else:
        baselines = path_alone = None
        progress.warn("No accuracy is measured: every label trains (TRAIN_RATIO = 1 and no "
                      "VALIDATION layer), so the report has no accuracy figures.")
    metadata = {
        "modalities": prepared.describe(),
        "grid": prepared.grid_dict(),
        "patch_size": config.patch_size,
        "architecture": result.model.architecture(),
        "classes": [c.to_dict() for c in classes],
        "label_layer": labels.layer_name,
        "class_field": labels.field_name,
        "training": dict(config_to_dict(config), learning_rate_used=result.learning_rate,
                         train_ratio=train_ratio,
                         validation="separate layer" if validation is not None else "held-out split"),
        "initialisation": "pretrained" if pretrained is not None else "random",
        "pretrained_model": pretrained_path,
        "samples": {"used_per_class": samples.used_per_class(), "dropped": samples.dropped,
                    "empty_class_features": samples.empty_class_features,
                    "training": int(len(train_idx)), "validation": int(len(val_rows))},
        "loss_history": [float(v) for v in result.loss_history],
        "train_accuracy_history": [float(v) for v in result.train_accuracy_history],
        "assessment": assessment,
        "classic_baselines": baselines,
        "spectral_path_alone": path_alone,
        "device_used": result.device,
    }
    if result.band_context is not None:  # the spectral path's patch mean: chosen how, and why
        metadata["spectral_context"] = dict(asdict(result.band_context),
                                            sentence=result.band_context.sentence(config.patch_size))
    return save_run(model_path, "classifier", result.model, metadata, started, report_path,
                    write_classifier_report, progress)


CLASSIC_MAX_TRAINING = 20000


def classic_baselines(source, rows, cols, targets, val_rows, val_cols, val_targets, classes: list,
                      config: ClassifierConfig, progress: Progress) -> dict:
    """The classic classifiers (:mod:`..learn.classic`) trained on the same pixels and scored on
    the same validation pixels: {method: overall accuracy, mean IoU, kappa}. ``source``: what
    :func:`..io.scene.label_inputs` gave (the arrays, or a bank of the labels' patches)."""
    progress.check()
    if len(rows) > CLASSIC_MAX_TRAINING:  # a forest on 10⁵ polygon pixels would take minutes
        pick = np.sort(np.random.default_rng(config.seed).choice(len(rows), CLASSIC_MAX_TRAINING, replace=False))
        rows, cols, targets = rows[pick], cols[pick], targets[pick]
        progress.info(f"The classic classifiers train on a random {CLASSIC_MAX_TRAINING:,} of the training pixels.")
    train_bands = pixel_spectra(source, rows, cols, config.patch_size)
    val_bands = pixel_spectra(source, val_rows, val_cols, config.patch_size)
    predictions = classic_predictions(train_bands, targets, val_bands, len(classes), seed=config.seed)
    baselines = {method: validation_scores(val_targets, predictions[method], classes) for method in CLASSIC_METHODS}
    progress.info("Classic classifiers on each pixel's own bands, same training and validation "
                  "pixels: " + ", ".join(f"{CLASSIC_NAMES[m]} {100 * v['overall_accuracy']:.1f} %"
                                         for m, v in baselines.items()) + ".")
    return baselines


def spectral_path_score(model, source, val_rows, val_cols, val_targets, classes: list, device: str,
                        progress: Progress) -> dict | None:
    """An 'ensemble' classifier's spectral path alone (what CLASSIFIER=linear fits on the same
    pixels) scored on the same validation pixels: what the networks add to it. None for the other
    classifiers."""
    if model.architecture().get("classifier") != "ensemble":
        return None
    progress.check()
    predicted, _ = predict_samples(spectral_path_alone(model), source, val_rows, val_cols, device)
    scores = validation_scores(val_targets, predicted, classes)
    progress.info(f"Its spectral path alone (CLASSIFIER=linear, no network) on the same validation pixels: "
                  f"overall accuracy {100 * scores['overall_accuracy']:.1f} %.")
    return scores


def validation_scores(val_targets, predicted, classes: list) -> dict:
    """Overall accuracy, mean IoU and kappa of class indices predicted for the validation pixels."""
    codes = np.array([c.code for c in classes])
    a = accuracy_assessment(codes[val_targets], codes[predicted], classes)
    return {key: a[key] for key in ("overall_accuracy", "mean_iou", "kappa")}


def usable_label_samples(labels: LabelFeatures, prepared: PreparedInputs, valid: np.ndarray,
                         names: dict | None, progress: Progress, colors: dict | None = None):
    """The labels on the grid's valid pixels, reported per class in the log; a layer with
    implausible classes or without any usable sample is refused with the reason."""
    samples = rasterize_labels(labels, prepared.stack.grid, valid, names, colors)
    _report_samples(samples, progress)
    require_plausible_classes(samples, labels)
    _require_usable_samples(samples, labels, prepared, "label")
    return samples


def _require_usable_samples(samples, features: LabelFeatures, prepared: PreparedInputs, what: str):
    """A layer none of whose labels can be used is refused with the reason: all outside the
    rasters' common extent (wrong area or CRS), or on pixels without data in every modality."""
    if len(samples.rows):
        return
    outside = sum(d["outside_extent"] for d in samples.dropped.values())
    invalid = sum(d["invalid_pixel"] for d in samples.dropped.values())
    conflict = sum(d["conflict"] for d in samples.dropped.values())
    slots = ", ".join(info.slot for info in prepared.stack.infos)
    layer = f"The {what} layer '{features.layer_name}'"
    if outside and not invalid and not conflict:
        raise InputError(f"{layer} has no feature inside the rasters' common extent ({slots}): all "
                         f"{outside} labelled features lie outside it. Check that the labels and the "
                         "rasters cover the same area and that the label layer's CRS is right.")
    raise InputError(f"{layer} has no usable sample: {outside} labels lie outside the rasters' "
                     f"common extent, {invalid} labelled pixels lack data in some modality ({slots}) and "
                     f"{conflict} are claimed by two classes. Move or add labels where every "
                     "raster has data.")


def _report_samples(samples, progress):
    used = samples.used_per_class()
    progress.info("Labelled samples used per class: " + ", ".join(f"{k}: {v}" for k, v in used.items()))
    lost = {name: {r: n for r, n in reasons.items() if n} for name, reasons in samples.dropped.items()}
    lost = {k: v for k, v in lost.items() if v}
    if lost:
        progress.info("Dropped: " + "; ".join(
            f"{name}: " + ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in reasons.items())
            for name, reasons in lost.items()))
    if samples.empty_class_features:
        progress.info(f"{samples.empty_class_features} features have an empty class and were ignored "
                      "(e.g. suggested sites not labelled yet).")


def write_classifier_report(path: str, metadata: dict):
    """HTML report plus the same numbers as JSON beside it (``<name>.json``)."""
    from ..output.report import HtmlReport, accuracy_section, line_plot_png, run_section, samples_section, write_json

    assessed = bool(metadata["assessment"])
    report = HtmlReport("Few-shot land-cover classifier" if assessed else
                        "Few-shot land-cover classifier: no accuracy figures")
    if not assessed:
        # The first thing the reader sees: this report measures nothing.
        report.warning("No accuracy was measured: every label trained the classifier (TRAIN_RATIO = 1 "
                       "and no VALIDATION layer). Set TRAIN_RATIO below 1 or give validation labels "
                       "to get accuracy figures.")
    report.paragraph(f"Classifier '{metadata['training'].get('classifier', 'network')}': "
                     f"{classifier_description(metadata['architecture'], metadata['initialisation'])}, "
                     f"trained on {metadata['samples']['training']} samples of '{metadata['label_layer']}' "
                     f"(field '{metadata['class_field']}').")
    if metadata.get("spectral_context"):
        report.paragraph("Spectral path: " + metadata["spectral_context"]["sentence"])
    if assessed:
        report.paragraph(f"Accuracy on {metadata['samples']['validation']} validation samples "
                         f"({metadata['training']['validation']}). Neighbouring pixels share most of a "
                         "patch: with dense labels a random split is optimistic; prefer a separate, "
                         "spatially distinct validation layer.")
        accuracy_section(report, metadata["assessment"])
        if metadata.get("classic_baselines"):
            classic_section(report, metadata["assessment"], metadata["classic_baselines"],
                            metadata.get("spectral_path_alone"))
    samples_section(report, metadata["samples"]["used_per_class"], metadata["samples"]["dropped"],
                    metadata["samples"]["empty_class_features"])
    report.heading("Training curves")
    if metadata["architecture"].get("networks", 1) > 1:
        report.paragraph(f"Each epoch's mean over the {metadata['architecture']['networks']} networks.")
    report.image_png(line_plot_png({"loss": metadata["loss_history"],
                                    "train accuracy": metadata["train_accuracy_history"]},
                                   "Training", "epoch", "value"), "training curves")
    run_section(report, reported_settings(metadata["training"]), metadata["seconds"], metadata["versions"])
    report.write(path)
    write_json(os.path.splitext(path)[0] + ".json", {
        key: metadata.get(key) for key in ("assessment", "classic_baselines", "spectral_path_alone", "samples",
                                           "training", "initialisation", "classes", "seconds", "versions",
                                           "loss_history")}
        | {"classifier": classifier_description(metadata["architecture"], metadata["initialisation"])})


def classic_section(report, assessment: dict, baselines: dict, path_alone: dict | None = None):
    """This classifier beside the classic ones on the same validation pixels, and a plain word
    when one of them does better; for the default 'ensemble', also its spectral path alone."""
    def pct(value):
        return "—" if value is None else f"{100 * value:.1f} %"

    report.heading("The same validation pixels, classic classifiers")
    rows = [["this classifier", pct(assessment["overall_accuracy"]), pct(assessment["mean_iou"])]]
    if path_alone:
        rows.append(["its spectral path alone (CLASSIFIER=linear)", pct(path_alone["overall_accuracy"]),
                     pct(path_alone["mean_iou"])])
    rows += [[CLASSIC_NAMES[m], pct(v["overall_accuracy"]), pct(v["mean_iou"])] for m, v in baselines.items()]
    report.table(["classifier", "OA", "mIoU"], rows, row_header=True)
    best = max(baselines, key=lambda m: baselines[m]["overall_accuracy"])
    lead = baselines[best]["overall_accuracy"] - assessment["overall_accuracy"]
    advice = (" With these labels consider CLASSIFIER=linear (a shrinkage LDA alone); one split is a "
              "noisy measure, mmsiam:evaluate measures over folds and seeds." if best == "lda" and lead >= 0.02
              else "")
    report.paragraph(
        "Each fitted on the same training pixels' own bands (every modality; standardised for the "
        "linear ones), as QGIS's and EnMAP-Box's pixel classifiers do. "
        + (f"The {CLASSIC_NAMES[best]} is {100 * lead:.1f} OA points ahead of this classifier here.{advice}"
           if lead > 0 else "None is ahead of this classifier here.")
        + ("" if not path_alone else
           " Its spectral path alone is what CLASSIFIER=linear gives, in seconds and without pretraining: "
           "the difference to this classifier is what the networks add on these pixels (one split is a "
           "noisy measure; mmsiam:evaluate's Table IV measures it over folds and seeds)."))


def classifier_description(architecture: dict, initialisation: str) -> str:
    """One phrase saying what the saved classifier computes."""
    network = f"the early-fusion network g = linear(f(Σ P_k(x_k))) of eq. (3) with a {initialisation} encoder"
    kind = architecture.get("classifier", "network")
    if kind == "network":
        return network
    linear = spectral_description(architecture)
    if kind == "linear":
        return linear
    networks = architecture.get("networks", 1)
    if networks > 1:
        network = (f"{networks} trainings from different seeds of {network} (their probabilities "
                   "averaged)")
    if architecture.get("test_time_flips"):
        network += ", " + flips_description(networks, architecture.get("views_per_network", 8))
    return f"the mean of the class probabilities of {network} and of {linear}"


def classes_from_metadata(metadata: dict) -> list:
    return [ClassInfo.from_dict(d) for d in metadata["classes"]]
