"""Report outputs: HTML, PNG plots, quick-look map, JSON, and atomic writing."""

import base64
import json
import os
import re

import matplotlib.image as mpimg
import numpy as np
import pytest

from multimodal_siamese.core.output import report
from multimodal_siamese.core.errors import InputError
from multimodal_siamese.core.io.labels import ClassInfo
from multimodal_siamese.core.learn.metrics import accuracy_assessment

CLASSES = [ClassInfo(1, 1, "water", "#0000ff"), ClassInfo(2, 2, "<b>", "#00ff00"),
           ClassInfo(5, 5, "urban & roads", "#ff8000")]


def test_line_plot_png():
    png = report.line_plot_png({"train": [1.0, 0.6, 0.4], "validation": [1.1, None, 0.5]},
                               "Loss", "epoch", "loss", hline={"best": 0.4})
    assert png.startswith(report.PNG_SIGNATURE)
    two = report.line_plot_png({"loss": [3, 2, 1], "OA": [0.5, 0.7, 0.8]}, "Training $1", "epoch", "",
                               subplots=True)
    assert two.startswith(report.PNG_SIGNATURE)


def test_html_report(tmp_path):
    a = accuracy_assessment([1, 1, 2, 2, 5], [1, 2, 2, 2, 5], CLASSES)
    r = report.HtmlReport("Classification <report>")
    report.accuracy_section(r, a)
    report.samples_section(r, {"water": 2, "<b>": 2, "urban & roads": 0},
                           {"water": {"outside_extent": 3, "invalid_pixel": 1, "conflict": 0},
                            "urban & roads": {"conflict": 2}}, empty_class_features=4)
    report.run_section(r, {"epochs": 10, "input": "/tmp/a b.tif", "bands": [1, 2]}, 3725.4,
                       {"numpy": np.__version__})
    png = report.line_plot_png({"loss": [1, 0.5]}, "Loss", "epoch", "loss")
    r.image_png(png, "loss curve")
    r.warning("Check <this>")
    path = tmp_path / "report.html"
    r.write(str(path))

    assert os.listdir(tmp_path) == ["report.html"]  # no temporary files left
    text = path.read_text(encoding="utf-8")
    assert '<meta charset="utf-8">' in text
    assert "water" in text and "urban &amp; roads" in text
    assert "&lt;b&gt;" in text and "<b>" not in text  # the class name is escaped
    assert "Classification &lt;report&gt;" in text and "Check &lt;this&gt;" in text
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert match and base64.b64decode(match.group(1)) == png
    # OA 4/5 as a percentage, kappa with 3 decimals, confusion-matrix totals, samples table.
    assert "80.0 %" in text
    assert f"{a['kappa']:.3f}" in text
    assert "Reference \\ Predicted" in text
    assert "Outside the raster extent" in text and "Run time: 1 h 02 min 05 s" in text
    assert '<td class="num">' in text


def test_confusion_matrix_table_orientation():
    a = accuracy_assessment([1, 1, 1, 2], [1, 2, 2, 2], CLASSES[:2])  # water→<b> twice
    r = report.HtmlReport("t")
    report.accuracy_section(r, a)
    table = r.parts[-1]
    rows = re.findall(r"<tr.*?</tr>", table.split("<tbody>")[1])
    cells = [re.findall(r">([^<>]*)</t[dh]>", row) for row in rows]
    assert cells[0] == ["water", "1", "2", "3"]  # reference water: 1 right, 2 predicted <b>, total 3
    assert cells[1] == ["&lt;b&gt;", "0", "1", "1"]
    assert cells[2] == ["Total", "1", "3", "4"]


def test_quicklook_png(tmp_path):
    class_map = np.zeros((60, 90), dtype=np.uint8)  # 0 = nodata
    class_map[:, :30] = 1
    class_map[:, 30:60] = 5
    path = tmp_path / "quicklook.png"
    report.quicklook_png(class_map, 0, CLASSES, str(path), "Classified map")
    assert os.listdir(tmp_path) == ["quicklook.png"]
    assert path.read_bytes().startswith(report.PNG_SIGNATURE)
    image = mpimg.imread(str(path))
    rgb = np.round(image[..., :3] * 255).astype(int).reshape(-1, 3)
    counts = {tuple(c): n for c, n in zip(*np.unique(rgb, axis=0, return_counts=True))}
    # Each mapped class shows as a block of its exact colour (hundreds of pixels, not just the legend).
    assert counts.get((0, 0, 255), 0) > 1000
    assert counts.get((255, 128, 0), 0) > 1000
    # Orientation: water (left third) lies left of urban (middle third), and nodata (right
    # third) is white between urban and the legend.
    rgb_image = np.round(image[..., :3] * 255).astype(int)
    ys, xs = np.nonzero(np.all(rgb_image == (0, 0, 255), axis=-1))
    ys_u, xs_u = np.nonzero(np.all(rgb_image == (255, 128, 0), axis=-1))
    row = int(np.median(ys))
    x_water, x_urban = int(np.median(xs)), int(np.median(xs_u))
    assert x_water < x_urban
    assert tuple(rgb_image[row, x_water]) == (0, 0, 255) and tuple(rgb_image[row, x_urban]) == (255, 128, 0)
    assert tuple(rgb_image[row, x_urban + (x_urban - x_water)]) == (255, 255, 255)


def test_write_json_roundtrip(tmp_path):
    data = {"a": np.float32(0.5), "b": np.arange(3), "c": [np.int64(7), None], "d": float("nan"),
            "name": "Wasser ü"}
    path = tmp_path / "out.json"
    report.write_json(str(path), data)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 0.5, "b": [0, 1, 2], "c": [7, None],
                                                             "d": None, "name": "Wasser ü"}
    assert "Wasser ü" in path.read_text(encoding="utf-8")  # ensure_ascii=False
    assert os.listdir(tmp_path) == ["out.json"]


def test_failed_writes_leave_no_file(tmp_path, monkeypatch):
    missing = tmp_path / "missing" / "x.html"
    with pytest.raises(InputError):
        report.HtmlReport("t").write(str(missing))
    with pytest.raises(InputError):
        report.write_json(str(tmp_path / "missing" / "x.json"), {})
    with pytest.raises(InputError):
        report.quicklook_png(np.ones((4, 4), np.uint8), 0, CLASSES, str(tmp_path / "missing" / "q.png"))
    # Failure while the file is being written: the partial file is removed, the old one kept.
    path = tmp_path / "q.png"
    report.quicklook_png(np.ones((4, 4), np.uint8), 0, CLASSES, str(path))
    before = path.read_bytes()

    def broken(self, target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(report.FigureCanvasAgg, "print_figure", broken)
    with pytest.raises(OSError):
        report.quicklook_png(np.ones((4, 4), np.uint8), 0, CLASSES, str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["q.png"]
