"""Real QGIS desktop under Xvfb with the plugin enabled in a fresh profile (scripts/screenshots.py):
menu and toolbar are there, and the classified map shows its class names in the Layers panel
whatever path loads it; the confidence raster loads below it with a 0–1 colour ramp."""

import os

import pytest
from screenshots import run_screenshot_script

CLASSES = ["Non-vegetation", "Shrub", "Tree"]


@pytest.fixture(scope="module")
def seen(desktop, data_dir, tmp_path_factory):
    # Each load path is recorded as it runs: the tests below say which one an error stopped.
    return desktop(str(tmp_path_factory.mktemp("desktop")), os.path.join(data_dir, "tahoe"),
                   launcher=run_screenshot_script, check=False)


def entries(legend):
    """The legend's entries under the band's own line ('Band 1: land-cover class (Palette)')."""
    return [entry for entry in legend if not entry.startswith("Band ")]


def loaded(seen, path):
    """What the Layers panel showed for one load path (each path is recorded as soon as it ran)."""
    assert path in seen.get("paths", {}), seen.get("error")
    return seen["paths"][path]


def test_the_desktop_run_went_through_without_error(seen):
    assert "error" not in seen, seen["error"]


def test_plugin_menu_and_toolbar(seen):
    assert "multimodal_siamese" in seen["active_plugins"]
    assert seen["menu_actions"][0] == "mmsiam_mapfromlabels"
    assert sorted(seen["menu_actions"]) == ["mmsiam_classify", "mmsiam_embed", "mmsiam_evaluate",
                                            "mmsiam_mapfromlabels", "mmsiam_pretrain", "mmsiam_suggestsites",
                                            "mmsiam_trainclassifier"]
    assert seen["toolbar_button"]


@pytest.mark.parametrize("path", ["by_hand", "run_and_load", "dialog_temporary", "dialog_file", "modeler"])
def test_the_map_shows_its_class_names_in_the_layers_panel(seen, path):
    shown = loaded(seen, path)["map"]
    assert shown["renderer"] == "paletted"
    assert entries(shown["legend"]) == CLASSES


@pytest.mark.parametrize("path", ["run_and_load", "dialog_temporary"])
def test_the_confidence_loads_below_the_map_with_a_0_to_1_ramp(seen, path):
    shown = loaded(seen, path)
    confidence = shown["confidence"]
    assert confidence["renderer"] == "singlebandpseudocolor"
    assert confidence["position"] > shown["map"]["position"]  # lower in the Layers panel
    legend = entries(confidence["legend"])
    assert len(legend) >= 3 and legend[0].startswith("0") and legend[-1].startswith("1")


def test_screenshots_are_pngs(seen):
    assert set(seen.get("screenshots", {})) == {"map", "mapfromlabels"}, seen.get("error")
    for path in seen["screenshots"].values():
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
