"""The whole 'classify' job, QGIS-free: load the classifier, align inputs like it, predict."""

from __future__ import annotations

from ...models.checkpoint import KINDS, CheckpointError, load_checkpoint
from ...models.network import MultimodalSiamese, classifier_from_architecture
from ..errors import InputError
from ..io.gdal_memory import job_block_cache
from ..io.inputs import GridOptions, prepare_like
from ..learn.predict import classify_raster
from ..learn.pretraining import resolve_device
from ..output.atomic import check_output_folder
from .classifier_run import classes_from_metadata


def model_from_checkpoint(checkpoint: dict, path: str):
    """The network of a loaded classifier (any CLASSIFIER choice) or pretraining checkpoint, in
    eval mode, and its metadata; a file whose weights or description do not match is refused."""
    metadata, kind = checkpoint["metadata"], checkpoint["kind"]
    build = classifier_from_architecture if kind == "classifier" else MultimodalSiamese.from_architecture
    try:
        model = build(metadata["architecture"])
        model.load_state_dict(checkpoint["state_dict"])
        if kind == "classifier":
            classes_from_metadata(metadata)
        GridOptions.from_dict(metadata["grid"])
        [(m["slot"], m["band_count"], m["normalisation"]) for m in metadata["modalities"]]
    except (KeyError, TypeError, ValueError, RuntimeError):
        redo = "classifier" if kind == "classifier" else "pretraining"
        raise CheckpointError(f"Model file '{path}' is a damaged {KINDS[kind][0]}: its weights do not "
                              f"match its description. Train the {redo} again.", path) from None
    return model.eval(), metadata


def load_classifier(path: str):
    checkpoint = load_checkpoint(path, expected_kind="classifier", needed_by="the classify algorithm")
    return model_from_checkpoint(checkpoint, path)


def check_classify_outputs(output: str, confidence: str | None):
    """Refuse outputs that cannot be written, before any work."""
    if not output.lower().endswith((".tif", ".tiff")):
        raise InputError(f"The classified raster must be a GeoTIFF (.tif); got '{output}'.")
    if confidence and not confidence.lower().endswith((".tif", ".tiff")):
        raise InputError(f"The confidence raster must be a GeoTIFF (.tif); got '{confidence}'.")
    check_output_folder(output, "classified raster")
    if confidence:
        check_output_folder(confidence, "confidence raster")


def classify_with_model(modalities: list, model_path: str, output: str, confidence: str | None,
                        memory_mb: float, device: str, progress) -> dict:
    check_classify_outputs(output, confidence)
    device = resolve_device(device)
    model, metadata = load_classifier(model_path)
    options = GridOptions.from_dict(metadata["grid"])
    architecture = model.architecture()
    if architecture.get("test_time_flips"):
        networks = architecture.get("networks", 1)
        views = architecture.get("views_per_network", 8)
        progress.info(f"With test-time flips, the model's {networks} network{'s' if networks > 1 else ''} "
                      f"{'each ' if networks > 1 else ''}look{'' if networks > 1 else 's'} at {views} "
                      f"flipped and turned copies of every patch, so each block takes {networks * views} network "
                      f"passes instead of {networks} and classification takes longer. A model trained with "
                      "TEST_TIME_FLIPS off maps faster.")
    with job_block_cache(memory_mb):
        with prepare_like(modalities, metadata["modalities"], options, "classifier model") as prepared:
            summary = classify_raster(model, prepared, classes_from_metadata(metadata), output, confidence,
                                      memory_mb, device, progress)
    progress.info("Pixels per class: " + ", ".join(f"{k}: {v}" for k, v in summary["pixels_per_class"].items()))
    return summary
