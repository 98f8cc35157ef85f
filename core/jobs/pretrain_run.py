"""The whole 'pretrain' job, QGIS-free: pretrain on prepared inputs, save, report."""

from __future__ import annotations

import math
import time

import numpy as np

from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, PreparedInputs, prepare
from ..io.labels import LabelFeatures
from ..io.scene import DEFAULT_TRAINING_MEMORY_MB, TilePool, fits_in_memory, label_inputs
from ..learn.pretraining import PatchSource, PretrainConfig, config_to_dict, pretrain, reported_settings
from ..learn.probe import linear_probe, probe_folds, probe_sentence
from ..output.atomic import check_output_folder
from ..output.report import HtmlReport, line_plot_png, run_section
from ..progress import Progress
from .classifier_run import usable_label_samples
from .run_record import save_run


def pretrain_job(modalities: list, options: GridOptions, config: PretrainConfig, model_path: str,
                 report_path: str | None, progress: Progress,
                 memory_mb: float = DEFAULT_TRAINING_MEMORY_MB, labels: LabelFeatures | None = None,
                 names: dict | None = None) -> dict:
    """The whole 'pretrain' job (mmsiam:pretrain, mmsiam:mapfromlabels): check the settings and
    output folders, align the rasters, pretrain, save; returns the checkpoint's metadata.

    With ``labels`` (optional; ``names``: class names by value), the pretrained features are also
    scored by a linear probe on them (:mod:`..learn.probe`)."""
    config.validate()
    check_output_folder(model_path, "pretrained model")
    if report_path:
        check_output_folder(report_path, "report")
    with job_block_cache(memory_mb), prepare(modalities, options, config.seed) as prepared:
        return run_pretraining(prepared, config, model_path, report_path, progress, memory_mb, labels, names)


def run_pretraining(prepared: PreparedInputs, config: PretrainConfig, model_path: str,
                    report_path: str | None, progress: Progress,
                    memory_mb: float = DEFAULT_TRAINING_MEMORY_MB, labels: LabelFeatures | None = None,
                    names: dict | None = None) -> dict:
    """Pretrain on the prepared inputs, save the checkpoint (and report); returns its metadata.

    A scene larger than ``memory_mb`` is never read whole: each epoch reads a pool of tiles.
    Labels are checked, and the probe's folds drawn, before pretraining: labels unfit for the
    probe are refused before its minutes, not after them."""
    started = time.time()
    for info in prepared.stack.infos:
        if info.dropped_bands:
            progress.info(f"{info.slot}: dropped bands without any valid value: "
                          f"{', '.join(map(str, info.dropped_bands))}.")
    valid = prepared.valid_mask()
    if labels is not None:
        samples = usable_label_samples(labels, prepared, valid, names, progress)
        folds = probe_folds(samples, config.patch_size, valid.shape, config.seed)
    read_whole_scene = fits_in_memory(prepared, memory_mb)
    if read_whole_scene:
        arrays, valid = prepared.read()
        result = pretrain(arrays, valid, config, progress)
    else:
        pool = TilePool(prepared, valid, config.patch_size, memory_mb, np.random.default_rng(config.seed))
        result = pretrain(None, None, config, progress, tile_pool=pool)
    metadata = {
        "modalities": prepared.describe(),
        "grid": prepared.grid_dict(),
        "patch_size": config.patch_size,
        "architecture": result.model.architecture(),
        "training": config_to_dict(config),
        "valid_pixels": int(valid.sum()),
        "memory_budget_mb": memory_mb,
        "read_whole_scene": read_whole_scene,
        "loss_history": [float(v) for v in result.loss_history],
        "zstd_history": [float(v) for v in result.zstd_history],
        "collapsed": bool(result.collapsed),
        "device_used": result.device,
        "precision_used": result.precision,
    }
    if labels is not None:
        progress.check()
        progress.info("Scoring the pretrained features with a linear probe on the labels …")
        source = (PatchSource(arrays, config.patch_size) if read_whole_scene else  # else the labels' patches
                  label_inputs(prepared, samples.rows, samples.cols, config.patch_size, memory_mb))
        model = result.model.cpu().eval()
        metadata["linear_probe"] = linear_probe(model.projections, model.encoder, source, samples,
                                                config.patch_size, folds, progress=progress)
        progress.info(probe_sentence(metadata["linear_probe"]))
    return save_run(model_path, "pretrained", result.model, metadata, started, report_path,
                    write_pretrain_report, progress)


def write_pretrain_report(path: str, metadata: dict):
    report = HtmlReport("Multimodal Siamese pretraining")
    report.paragraph("Self-supervised pretraining on unlabelled pixels: "
                     + ", ".join(f"{m['slot']} ({len(m['kept_bands'])} bands)" for m in metadata["modalities"])
                     + f", {metadata['valid_pixels']} valid pixels.")
    if metadata["collapsed"]:
        report.warning("The representation collapsed (z-std near 0): features became constant. "
                       "Try a lower learning rate or more samples per epoch.")
    epochs = list(range(1, len(metadata["loss_history"]) + 1))
    report.heading("Training curves")
    report.image_png(line_plot_png({"loss": metadata["loss_history"]}, "Loss (eq. 2; minimum −2)",
                                   "epoch", "loss"), "loss curve")
    healthy = 1 / math.sqrt(metadata["architecture"]["dim"])
    report.image_png(line_plot_png({"z-std": metadata["zstd_history"]},
                                   "Collapse monitor: std of normalised z", "epoch", "std",
                                   hline={"healthy 1/√dim": healthy}), "collapse monitor")
    report.table(["epoch", "loss", "z-std"],
                 [[e, f"{l:.4f}", f"{s:.5f}"] for e, l, s in
                  zip(epochs, metadata["loss_history"], metadata["zstd_history"])])
    probe = metadata.get("linear_probe")
    if probe:
        report.heading("Linear probe on your labels")
        report.paragraph(probe_sentence(probe) + f" Each fold tests on the labelled pixels of its "
                         f"{probe['block_size']}-px blocks and trains on the others, minus those within "
                         f"{metadata['patch_size'] // 2} px of a test pixel; the features are the "
                         f"{probe['features']} values of z of all sensors, the bands the {probe['bands']} bands "
                         "of the centre pixel.")
        report.table(["fold", "training pixels", "test pixels", "probe OA %", "probe mIoU %",
                      "LDA on bands OA %", "LDA on bands mIoU %"],
                     [[f["fold"], f["train_pixels"], f["test_pixels"]]
                      + [f"{100 * f[m][k]:.1f}" for m in ("probe", "bands_lda") for k in ("overall_accuracy", "mean_iou")]
                      for f in probe["per_fold"]]
                     + [["mean", "", ""] + [f"{100 * probe[m][k]:.1f}" for m in ("probe", "bands_lda")
                                            for k in ("overall_accuracy", "mean_iou")]])
        untrained = sum(f["untrained_test_pixels"] for f in probe["per_fold"])
        if untrained:
            report.warning(f"{untrained} test pixels belong to a class that their fold's training part lacks "
                           "(all its labels lie in that fold's blocks): both classifiers miss them.")
    for m in metadata["modalities"]:
        if m["dropped_bands"]:
            report.paragraph(f"{m['slot']}: dropped bands without data: {m['dropped_bands']}.")
    run_section(report, reported_settings(metadata["training"]), metadata["seconds"], metadata["versions"])
    report.write(path)
