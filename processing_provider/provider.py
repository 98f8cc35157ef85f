"""The ``mmsiam`` Processing provider."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms import all_algorithms

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icons", "mmsiam.svg")


class MultimodalSiameseProvider(QgsProcessingProvider):
    def id(self):
        return "mmsiam"

    def name(self):
        return "Multimodal Siamese Land Cover"

    def longName(self):  # noqa: N802 (QGIS API name)
        return self.name()

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):  # noqa: N802 (QGIS API name)
        return ICON_PATH

    def loadAlgorithms(self):  # noqa: N802 (QGIS API name)
        for algorithm_class in all_algorithms():
            self.addAlgorithm(algorithm_class())
