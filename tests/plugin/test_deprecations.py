"""No deprecation warning from the plugin's own code on the QGIS it runs in (3.22 to 3.44).

Every algorithm of the provider runs once through ``processing.run`` (tiny settings, the real
Tahoe data) while all warnings are recorded; a (Pending)DeprecationWarning attributed to one of
the plugin's files fails the test (QGIS's, torch's or NumPy's own ones, e.g. QGIS 3.44's
``codecs.open`` in its Python code, are not ours; a deprecated API *called by* the plugin is
attributed to the plugin's line and counts)."""

import os
import warnings

REPO_ROOT = os.path.realpath(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TESTS = os.path.join(REPO_ROOT, "tests") + os.sep


def ours(filename: str) -> bool:
    path = os.path.realpath(filename)
    return path.startswith(REPO_ROOT + os.sep) and not path.startswith(TESTS)


def test_every_algorithm_runs_without_a_deprecation_warning_from_the_plugin(plugin, provider, tahoe,
                                                                            tmp_path):
    import processing

    out = lambda name: str(tmp_path / name)  # noqa: E731
    labels = dict(LABELS=tahoe["LABELS"], CLASS_FIELD="SPECIES")
    runs = [
        ("mmsiam:pretrain", dict(tahoe["rasters"], EPOCHS=1, SAMPLES_PER_EPOCH=256, BATCH_SIZE=64, SEED=1,
                                 OUTPUT_MODEL=out("pretrained.pt"), OUTPUT_REPORT=out("pretrain.html"))),
        ("mmsiam:trainclassifier", dict(tahoe["rasters"], **labels, EPOCHS=1, PATCH_SIZE=5,
                                        OUTPUT_MODEL=out("classifier.pt"), OUTPUT_REPORT=out("train.html"))),
        ("mmsiam:classify", dict(tahoe["rasters"], MODEL=out("classifier.pt"), OUTPUT=out("map.tif"),
                                 OUTPUT_CONFIDENCE=out("confidence.tif"))),
        ("mmsiam:mapfromlabels", dict(tahoe["rasters"], **labels, PRETRAINED=out("pretrained.pt"), EPOCHS=1,
                                      PATCH_SIZE=5, OUTPUT=out("map2.tif"), OUTPUT_MODEL=out("classifier2.pt"))),
        ("mmsiam:suggestsites", dict(tahoe["rasters"], **labels, MODEL=out("classifier.pt"), COUNT=5,
                                     OUTPUT=out("sites.gpkg"))),
        ("mmsiam:embed", dict(tahoe["rasters"], MODEL=out("pretrained.pt"), COMPONENTS=3,
                              OUTPUT=out("embedding.tif"))),
        ("mmsiam:evaluate", dict(tahoe["rasters"], **labels, PRETRAINED=out("pretrained.pt"), FOLDS=2,
                                 TRAIN_RATIOS="1.0", EPOCHS=1, SPLIT="random", OUTPUT_TABLE=out("evaluation.csv"),
                                 OUTPUT_REPORT=out("evaluation.html"))),
    ]
    assert sorted(a for a, _ in runs) == sorted(a.id() for a in provider.algorithms())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for algorithm, parameters in runs:
            processing.run(algorithm, parameters)
    deprecations = sorted({f"{os.path.relpath(w.filename, REPO_ROOT)}:{w.lineno}: {w.category.__name__}: {w.message}"
                           for w in caught if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
                           and ours(w.filename)})
    assert deprecations == [], "\n".join(deprecations)
    assert os.path.isfile(out("evaluation.csv")) and os.path.isfile(out("embedding.tif"))
