"""The whole 'pretrain' job, QGIS-free: pretrain on prepared inputs, save, report."""

from __future__ import annotations

import math
import time

import numpy as np

from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, PreparedInputs, prepare
from ..io.scene import DEFAULT_TRAINING_MEMORY_MB, TilePool, fits_in_memory
from ..learn.pretraining import PretrainConfig, config_to_dict, pretrain
from ..output.atomic import check_output_folder
from ..output.report import HtmlReport, line_plot_png, run_section
from ..progress import Progress
from .run_record import save_run


def pretrain_job(modalities: list, options: GridOptions, config: PretrainConfig, model_path: str,
                 report_path: str | None, progress: Progress,
                 memory_mb: float = DEFAULT_TRAINING_MEMORY_MB) -> dict:
    """The whole 'pretrain' job (mmsiam:pretrain, mmsiam:mapfromlabels): check the settings and
    output folders, align the rasters, pretrain, save; returns the checkpoint's metadata."""
    config.validate()
    check_output_folder(model_path, "pretrained model")
    if report_path:
        check_output_folder(report_path, "report")
    with job_block_cache(memory_mb), prepare(modalities, options, config.seed) as prepared:
        return run_pretraining(prepared, config, model_path, report_path, progress, memory_mb)


def run_pretraining(prepared: PreparedInputs, config: PretrainConfig, model_path: str,
                    report_path: str | None, progress: Progress,
                    memory_mb: float = DEFAULT_TRAINING_MEMORY_MB) -> dict:
    """Pretrain on the prepared inputs, save the checkpoint (and report); returns its metadata.

    A scene larger than ``memory_mb`` is never read whole: each epoch reads a pool of tiles."""
    started = time.time()
    for info in prepared.stack.infos:
        if info.dropped_bands:
            progress.info(f"{info.slot}: dropped bands without any valid value: "
                          f"{', '.join(map(str, info.dropped_bands))}.")
    valid = prepared.valid_mask()
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
    for m in metadata["modalities"]:
        if m["dropped_bands"]:
            report.paragraph(f"{m['slot']}: dropped bands without data: {m['dropped_bands']}.")
    run_section(report, metadata["training"], metadata["seconds"], metadata["versions"])
    report.write(path)
