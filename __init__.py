"""Multimodal Siamese Land Cover: a QGIS Processing plugin.

Nothing heavy is imported here: QGIS must start even when torch or scikit-learn are missing,
and the QGIS-free core (``core``) and networks (``models``) must import without QGIS.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    from qgis.core import QgsApplication

    from .core.runtime import triton_guard
    from .core.runtime.dependencies import activate_folder, dependencies_folder

    # pip's CUDA torch brings triton, whose import can crash the QGIS desktop: never load it here.
    triton_guard.install()
    # Packages put there by the offer of missing dependencies (its Install button; see core/runtime/dependencies.py).
    activate_folder(dependencies_folder(QgsApplication.qgisSettingsDirPath()))

    from .plugin import MultimodalSiamesePlugin

    return MultimodalSiamesePlugin(iface)
