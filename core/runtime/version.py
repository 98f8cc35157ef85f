"""The plugin version, read from metadata.txt (one source of truth)."""

import configparser
import os

_METADATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "metadata.txt")


def plugin_version() -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(_METADATA, encoding="utf-8")
    return parser.get("general", "version", fallback="unknown")


def library_versions() -> dict:
    """Versions of the libraries a result depends on (for reports and checkpoints)."""
    import platform

    import numpy
    import rasterio

    versions = {"plugin": plugin_version(), "python": platform.python_version(),
                "numpy": numpy.__version__, "rasterio": rasterio.__version__,
                "gdal": rasterio.__gdal_version__}
    for name in ("torch", "sklearn"):
        try:
            versions[name] = str(__import__(name).__version__)
        except ImportError:
            versions[name] = "missing"
    return versions
