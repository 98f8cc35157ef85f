"""Report outputs: line plots, a quick-look PNG of the classified map, JSON, one-file HTML.

Matplotlib is used through ``Figure`` + ``FigureCanvasAgg`` only: no pyplot and no
``matplotlib.use``, so the global backend of the host application (QGIS) is never touched.
All files are written through ``atomic_output``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .atomic import atomic_output

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICKLOOK_MAX_PIXELS = 2000  # longest side of the quick-look map, after decimation

REASONS = {"outside_extent": "Outside the raster extent",
           "invalid_pixel": "On an invalid (nodata) pixel",
           "conflict": "Conflicting labels (two classes on one pixel)"}


# ----------------------------------------------------------------------------- JSON

def to_plain(obj):
    """Recursively convert to JSON-safe Python: numpy → python, NaN/inf → None, paths → str."""
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_plain(obj.tolist())
    if isinstance(obj, np.generic):
        return to_plain(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def write_json(path: str, data: dict):
    """Write ``data`` as UTF-8 JSON (indent 2), atomically."""
    text = json.dumps(to_plain(data), indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_output(path, "JSON file") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")


# ----------------------------------------------------------------------------- plots

def _plain_text(text) -> str:
    """Text for matplotlib without mathtext interpretation of '$'."""
    return str(text).replace("$", r"\$")


def _png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def line_plot_png(series: dict, title: str = "", xlabel: str = "", ylabel: str = "",
                  hline: dict | None = None, subplots: bool = False) -> bytes:
    """Line plot of ``series`` (name → values at x = 1, 2, ...) as PNG bytes.

    ``hline`` maps labels to y values drawn as dashed horizontal lines. With ``subplots`` each
    series gets its own panel (shared x axis); otherwise all share one axis with a legend.
    None/NaN values leave gaps."""
    names = list(series)
    panels = max(len(names), 1) if subplots else 1
    figure = Figure(figsize=(7, 2.6 * panels if subplots else 4), dpi=100, layout="constrained")
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    for i, name in enumerate(names):
        ax = axes[i if subplots else 0]
        y = np.array([np.nan if v is None else float(v) for v in series[name]], dtype=float)
        x = np.arange(1, y.size + 1)
        ax.plot(x, y, marker="o" if y.size <= 30 else None, markersize=3, label=_plain_text(name))
        if subplots:
            ax.set_ylabel(_plain_text(name if not ylabel else f"{name}\n{ylabel}"))
    for ax in axes:
        for k, (label, value) in enumerate((hline or {}).items()):
            ax.axhline(float(value), linestyle="--", linewidth=1, color=f"C{len(names) + k}",
                       label=_plain_text(label))
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if not subplots:
            ax.set_ylabel(_plain_text(ylabel))
        if (not subplots and names) or hline:
            ax.legend(fontsize="small")
    axes[-1].set_xlabel(_plain_text(xlabel))
    if title:
        figure.suptitle(_plain_text(title))
    return _png_bytes(figure)


def gain_plot_png(gains: list, title: str = "") -> bytes:
    """The paper's Fig. 3: mean ± std gain (percentage points) of pretrained over random
    initialisation in OA and mIoU, per training ratio (one bar per modality subset and classifier
    in each group)."""
    figure = Figure(figsize=(7, 4), dpi=100, layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)

    def series_of(gain):
        return gain["modalities"], gain["classifier"]

    series = list(dict.fromkeys(series_of(g) for g in gains))
    several_subsets = len({subset for subset, _ in series}) > 1
    ratios = sorted({g["ratio"] for g in gains})
    width = 0.8 / max(len(series), 1)
    for ax, key, label in ((axes[0], "oa_gain", "OA"), (axes[1], "miou_gain", "mIoU")):
        for s, (subset, classifier) in enumerate(series):
            values = {g["ratio"]: g[key] for g in gains if series_of(g) == (subset, classifier)}
            means = [100 * (values[r]["mean"] or 0) if r in values else np.nan for r in ratios]
            stds = [100 * (values[r]["std"] or 0) if r in values else 0 for r in ratios]
            name = f"{subset}, {classifier}" if several_subsets else classifier
            ax.bar(np.arange(len(ratios)) + (s - (len(series) - 1) / 2) * width, means, width,
                   yerr=stds, capsize=3, label=_plain_text(name))
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(ratios)), [f"{100 * r:g} %" for r in ratios])
        ax.set_xlabel("training ratio")
        ax.set_title(f"{label} gain (points)")
        ax.grid(True, axis="y", alpha=0.3)
    if len(series) > 1:
        axes[1].legend(fontsize="small")
    if title:
        figure.suptitle(_plain_text(title))
    return _png_bytes(figure)


def _class_colours(classes) -> np.ndarray:
    """256 × 4 uint8 RGBA lookup table: class colours, everything else transparent."""
    table = np.zeros((256, 4), dtype=np.uint8)
    for c in classes:
        if 0 <= int(c.code) <= 255:
            table[int(c.code)] = np.round(np.array(to_rgba(c.color)) * 255).astype(np.uint8)
    return table


def quicklook_png(class_map: np.ndarray, nodata: int, classes: list, path: str, title: str = ""):
    """Write the classified map (uint8 codes) in class colours with a legend, as PNG.

    Nodata and codes without a class are transparent (white background). Maps larger than
    QUICKLOOK_MAX_PIXELS on a side are decimated (nearest pixel) first."""
    class_map = np.asarray(class_map)
    step = max(1, math.ceil(max(class_map.shape) / QUICKLOOK_MAX_PIXELS))
    small = class_map[::step, ::step].astype(np.int64)
    rgba = _class_colours(classes)[np.clip(small, 0, 255)]
    rgba[(small == nodata) | (small < 0) | (small > 255)] = 0

    height, width = small.shape
    scale = 8.0 / max(height, width)
    figure = Figure(figsize=(max(width * scale, 2.0) + 2.5, max(height * scale, 2.0) + 0.8), dpi=100,
                    layout="constrained", facecolor="white")
    ax = figure.add_subplot()
    ax.imshow(rgba, interpolation="nearest", resample=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(_plain_text(title))
    handles = [Patch(facecolor=c.color, edgecolor="black", linewidth=0.5,
                     label=_plain_text(f"{c.name} ({c.code})")) for c in classes]
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                  fontsize="small", frameon=False)
    with atomic_output(path, "quick-look image", suffix=".png") as tmp:
        # bbox_inches='tight' keeps the legend outside the axes inside the image.
        FigureCanvasAgg(figure).print_figure(tmp, format="png", bbox_inches="tight", pad_inches=0.15)


# ----------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { margin-top: 1.8em; color: #334; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: .92em; }
caption { text-align: left; font-weight: bold; padding-bottom: .3em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; vertical-align: top; }
thead th { background: #eef0f5; }
tbody th { background: #f7f8fa; text-align: left; font-weight: 600; }
tbody tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.diag { background: #e3f1e3 !important; font-weight: bold; }
tr.total td, tr.total th { border-top: 2px solid #888; font-weight: bold; }
.warning { background: #fff4e0; border-left: 5px solid #e69500; padding: .6em 1em; margin: 1em 0; }
img { max-width: 100%; height: auto; }
figure { margin: 1em 0; }
"""

_NUMERIC = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?(\s*%)?$")


def _cell_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (float, np.floating)):
        return "—" if not math.isfinite(float(value)) else f"{float(value):.6g}"
    return str(value)


def _is_numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return isinstance(value, str) and bool(_NUMERIC.match(value.strip()))


class HtmlReport:
    """A small builder for a self-contained (one-file) HTML report. All text is escaped."""

    def __init__(self, title: str):
        self.title = str(title)
        self.parts = [f"<h1>{html.escape(self.title)}</h1>"]

    def heading(self, text: str, level: int = 2):
        level = min(max(int(level), 1), 6)
        self.parts.append(f"<h{level}>{html.escape(str(text))}</h{level}>")

    def paragraph(self, text: str):
        self.parts.append(f"<p>{html.escape(str(text))}</p>")

    def warning(self, text: str):
        self.parts.append(f'<div class="warning"><strong>Warning:</strong> {html.escape(str(text))}</div>')

    def table(self, header: list, rows: list, caption: str | None = None, row_header: bool = False,
              total_row: bool = False, highlight: set | None = None):
        """Rows of cells; numeric cells are right-aligned. ``row_header``: first column as <th>;
        ``total_row``: last row styled as a total; ``highlight``: {(row, col)} cells emphasised."""
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(str(caption))}</caption>")
        if header:
            out.append("<thead><tr>" + "".join(f"<th>{html.escape(_cell_text(h))}</th>" for h in header)
                       + "</tr></thead>")
        out.append("<tbody>")
        for r, row in enumerate(rows):
            total = total_row and r == len(rows) - 1
            cells = []
            for c, value in enumerate(row):
                text = html.escape(_cell_text(value))
                if row_header and c == 0:
                    cells.append(f'<th scope="row">{text}</th>')
                    continue
                classes = (["num"] if _is_numeric(value) else []) + \
                    (["diag"] if highlight and (r, c) in highlight else [])
                attr = f' class="{" ".join(classes)}"' if classes else ""
                cells.append(f"<td{attr}>{text}</td>")
            out.append(("<tr class=\"total\">" if total else "<tr>") + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        self.parts.append("".join(out))

    def key_values(self, data: dict, caption: str | None = None):
        self.table([], [[k, v] for k, v in data.items()], caption=caption, row_header=True)

    def image_png(self, png_bytes: bytes, alt: str = "", caption: str | None = None):
        """Embed PNG bytes as a base64 data URI."""
        encoded = base64.b64encode(bytes(png_bytes)).decode("ascii")
        figure = f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(str(alt))}">'
        if caption:
            figure += f"<figcaption>{html.escape(str(caption))}</figcaption>"
        self.parts.append(figure + "</figure>")

    def to_html(self) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                + "\n".join(self.parts) + "\n</body>\n</html>\n")

    def write(self, path: str):
        """Write the report as one UTF-8 HTML file, atomically."""
        text = self.to_html()
        with atomic_output(path, "HTML report") as tmp:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)


# ----------------------------------------------------------------------------- sections

def _pct(value) -> str:
    return "—" if value is None else f"{100.0 * value:.1f} %"


def accuracy_section(report: HtmlReport, assessment: dict, title: str = "Accuracy"):
    """Summary figures, per-class table and confusion matrix of ``accuracy_assessment``'s result."""
    report.heading(title)
    kappa = assessment.get("kappa")
    report.key_values({"Overall accuracy (OA)": _pct(assessment.get("overall_accuracy")),
                       "Average accuracy (AA)": _pct(assessment.get("average_accuracy")),
                       "Kappa": "—" if kappa is None else f"{kappa:.3f}",
                       "Mean IoU (mIoU)": _pct(assessment.get("mean_iou")),
                       "Samples": assessment.get("n_samples")})
    rows = [[p["name"], p["code"], _pct(p["iou"]), _pct(p["producers_accuracy"]),
             _pct(p["users_accuracy"]), _pct(p["f1"]), p["support"]] for p in assessment["per_class"]]
    report.table(["Class", "Code", "IoU", "Producer's accuracy", "User's accuracy", "F1", "Support"],
                 rows, caption="Per class", row_header=True)
    missing = [p["name"] for p in assessment["per_class"] if p["support"] == 0]
    if missing:
        report.warning("No reference samples for: " + ", ".join(missing)
                       + ". Their producer's accuracy is undefined and they are left out of AA and mIoU.")

    cm = assessment["confusion_matrix"]
    names, matrix = cm["labels"], np.asarray(cm["matrix"], dtype=np.int64).reshape(len(cm["labels"]), -1)
    body = [[name] + [int(v) for v in row] + [int(row.sum())] for name, row in zip(names, matrix)]
    body.append(["Total"] + [int(v) for v in matrix.sum(axis=0)] + [int(matrix.sum())])
    report.table(["Reference \\ Predicted"] + list(names) + ["Total"], body,
                 caption="Confusion matrix (rows: reference, columns: predicted)", row_header=True,
                 total_row=True, highlight={(k, k + 1) for k in range(len(names))})


def samples_section(report: HtmlReport, used_per_class: dict, dropped: dict, empty_class_features: int = 0,
                    title: str = "Samples"):
    """Samples used and dropped per class and reason."""
    report.heading(title)
    reasons = list(REASONS)
    for counts in dropped.values():
        reasons += [r for r in counts if r not in reasons]
    names = list(used_per_class) + [n for n in dropped if n not in used_per_class]
    header = ["Class", "Used"] + [REASONS.get(r, r.replace("_", " ").capitalize()) for r in reasons] \
        + ["Dropped (total)"]
    rows, totals = [], np.zeros(len(reasons) + 2, dtype=np.int64)
    for name in names:
        counts = [int(dropped.get(name, {}).get(r, 0)) for r in reasons]
        values = [int(used_per_class.get(name, 0))] + counts + [sum(counts)]
        totals += values
        rows.append([name] + values)
    rows.append(["Total"] + [int(v) for v in totals])
    report.table(header, rows, row_header=True, total_row=True)
    report.paragraph("Counts are pixels (one per point); a polygon completely outside the raster "
                     "is counted once.")
    if empty_class_features:
        report.paragraph(f"{int(empty_class_features)} label feature(s) with an empty class value "
                         "or no geometry were ignored.")
    unused = [n for n in names if int(used_per_class.get(n, 0)) == 0]
    if unused:
        report.warning("No usable samples for: " + ", ".join(map(str, unused)) + ".")


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours} h {minutes:02d} min {secs:02d} s"
    elif minutes:
        text = f"{minutes} min {secs:02d} s"
    else:
        return f"{seconds:.1f} s"
    return f"{text} ({seconds:.0f} s)"


def _parameter_text(value) -> str:
    value = to_plain(value)
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(_parameter_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def run_section(report: HtmlReport, parameters: dict, seconds: float, versions: dict, title: str = "Run"):
    """Parameters, run time and library versions."""
    report.heading(title)
    report.key_values({str(k): _parameter_text(v) for k, v in parameters.items()}, caption="Parameters")
    report.paragraph(f"Run time: {_duration(seconds)}")
    report.key_values({str(k): str(v) for k, v in versions.items()}, caption="Versions")
