"""resources/models/pretrain_classify.model3 (pretrain → train classifier → classify) run headless
through scripts/qgis_process on the Tahoe aerial image + LiDAR, with tiny settings."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import rasterio

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(REPO_ROOT, "resources", "models", "pretrain_classify.model3")
MAKER = os.path.join(REPO_ROOT, "resources", "models", "make_pretrain_classify_model.py")
QGIS_PROCESS = os.path.join(REPO_ROOT, "scripts", "qgis_process")
TINY = {"PRETRAIN_EPOCHS": 1, "CLASSIFIER_EPOCHS": 2, "SAMPLES_PER_EPOCH": 128, "PATCH_SIZE": 5}


@pytest.fixture(scope="module")
def tahoe(data_dir):
    d = os.path.join(data_dir, "tahoe")
    return {"MODALITY_1": os.path.join(d, "tahoe_highrez.tif"),
            "MODALITY_2": os.path.join(d, "tahoe_lidar_highesthit.tif"),
            "LABELS": os.path.join(d, "tahoe_training_points.gpkg"), "CLASS_FIELD": "SPECIES"}


def run_model(parameters):
    args = [QGIS_PROCESS, "run", MODEL, "--json", "--"] + [f"{k}={v}" for k, v in parameters.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    return json.loads(done.stdout[done.stdout.index("{"):]), text


def test_model_chains_the_three_algorithms_on_two_modalities(tahoe, tmp_path):
    classified, report = tmp_path / "landcover.tif", tmp_path / "accuracy.html"
    payload, text = run_model(dict(tahoe, **TINY, **{"classify:CLASSIFIED": classified,
                                                    "trainclassifier:ACCURACY_REPORT": report}))
    assert payload["results"]["classify:CLASSIFIED"] == str(classified)
    with rasterio.open(classified) as raster:
        assert raster.driver == "GTiff" and raster.dtypes[0] == "uint8" and raster.shape == (400, 400)
        codes = set(np.unique(raster.read(1)).tolist()) - {raster.nodata}
        assert codes and codes <= {1, 2, 3}  # SPECIES: 3 text classes → codes 1..3
    assert (tmp_path / "landcover.qml").is_file()
    # The model's TRAIN_RATIO (0.7) holds even when qgis_process leaves it out.
    assert "Validation on 9 held-out samples" in text
    assert "overall accuracy" in report.read_text(encoding="utf-8").lower()
    assert (tmp_path / "accuracy.json").is_file()


def test_model_runs_on_a_single_modality(tahoe, tmp_path):
    classified = tmp_path / "landcover.tif"
    parameters = {k: v for k, v in tahoe.items() if k != "MODALITY_2"}
    run_model(dict(parameters, **TINY, **{"classify:CLASSIFIED": classified}))
    with rasterio.open(classified) as raster:
        assert set(np.unique(raster.read(1)).tolist()) - {raster.nodata} <= {1, 2, 3}


def as_int(value):
    """An enum or flags value as int, whether QGIS gives an old int-like enum or a scoped one."""
    return int(getattr(value, "value", value))


def model_summary(path):
    """What a model means, independent of the QGIS version that wrote the file: its parameters
    (outputs included, by the names qgis_process takes), its steps and what feeds each step."""
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path)), path
    parameters = [(d.name(), d.type(), d.description(), d.defaultValue(), as_int(d.flags()))
                  for d in model.parameterDefinitions()]
    steps = {}
    for child_id, child in model.childAlgorithms().items():
        sources = {name: [(as_int(s.source()), s.staticValue(), s.parameterName(), s.outputChildId(),
                           s.outputName(), s.expression()) for s in values]
                   for name, values in child.parameterSources().items()}
        outputs = {name: (o.childOutputName(), o.description()) for name, o in child.modelOutputs().items()}
        steps[child_id] = (child.algorithmId(), child.description(), sources, outputs)
    return sorted(parameters, key=str), steps, model.helpContent()


def test_committed_model_is_what_the_script_builds(plugin, tmp_path):
    rebuilt = tmp_path / "pretrain_classify.model3"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, MAKER, str(rebuilt)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # Compared by meaning, not bytes: QGIS 3.40 writes a newer file format than 3.22.
    assert model_summary(rebuilt) == model_summary(MODEL)


def test_model_outputs_have_the_same_names_on_every_qgis_and_in_the_readme(plugin):
    """Newer QGIS (3.40, 3.44) names the outputs of a model it creates after their descriptions
    ("classified_raster"); the shipped file pins the "<child>:<output>" names of 3.22."""
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(MODEL)
    names = sorted(d.name() for d in model.parameterDefinitions() if d.isDestination())
    assert names == ["classify:CLASSIFIED", "trainclassifier:ACCURACY_REPORT"]
    assert sorted(o.name() for o in model.outputDefinitions()) == names
    text = open(MODEL, encoding="utf-8").read()
    assert 'name="internal_version"' not in text or 'value="Version1"' in text
    # The README's headless command uses exactly these names.
    readme = open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8").read()
    command = readme[readme.index("scripts/qgis_process run resources/models/pretrain_classify.model3"):]
    command = command[:command.index("```")]
    assert sorted(re.findall(r"(\w+:\w+)=", command)) == names
