"""Runs as the Processing dialog does: in background tasks (QgsProcessingAlgRunnerTask), two at once."""

import os
import threading
import time

import torch
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication


def test_two_trainclassifier_runs_at_once_in_background_tasks(plugin, data_dir, tmp_path, monkeypatch):
    from multimodal_siamese.algorithms import common

    reader_threads = []
    original = common.label_features_from_layer

    def recording(*args, **kwargs):
        reader_threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(common, "label_features_from_layer", recording)
    d = os.path.join(data_dir, "tahoe")
    # A project layer, as in the desktop: it must be read in the main thread (prepareAlgorithm).
    labels = QgsVectorLayer(os.path.join(d, "tahoe_training_points.gpkg"), "points", "ogr")
    QgsProject.instance().addMapLayer(labels)
    algorithm = QgsApplication.processingRegistry().algorithmById("mmsiam:trainclassifier")
    runs = []
    try:
        for seed in (1, 2):
            context = QgsProcessingContext()
            context.setProject(QgsProject.instance())
            feedback = QgsProcessingFeedback()
            output = str(tmp_path / f"model_{seed}.pt")
            parameters = {"MULTISPECTRAL": os.path.join(d, "tahoe_highrez.tif"), "LABELS": labels.id(),
                          "CLASS_FIELD": "SPECIES", "EPOCHS": 2, "PATCH_SIZE": 5, "SEED": seed,
                          "OUTPUT_MODEL": output}
            task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
            run = {"task": task, "context": context, "feedback": feedback, "output": output, "done": None}
            task.executed.connect(lambda ok, results, run=run: run.update(done=(ok, results)))
            runs.append(run)
        for run in runs:
            QgsApplication.taskManager().addTask(run["task"])
        end = time.monotonic() + 120
        while any(run["done"] is None for run in runs):
            assert time.monotonic() < end, "background runs did not finish"
            QCoreApplication.processEvents()
            time.sleep(0.02)
    finally:
        QgsProject.instance().removeMapLayer(labels.id())
    assert reader_threads and all(t is threading.main_thread() for t in reader_threads)
    for run in runs:
        ok, results = run["done"]
        assert ok and results["OUTPUT_MODEL"] == run["output"]
        meta = torch.load(run["output"], weights_only=True)["metadata"]
        assert [c["name"] for c in meta["classes"]] == ["Non-vegetation", "Shrub", "Tree"]
    seeds = [torch.load(run["output"], weights_only=True)["metadata"]["training"]["seed"] for run in runs]
    assert seeds == [1, 2]
