"""Plugin entry point: registers the Processing provider (also headless, via initProcessing)."""

from qgis.core import QgsApplication


class MultimodalSiamesePlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name)
        # Called by QGIS desktop and by qgis_process alike, so the algorithms exist headless.
        from .processing_provider.provider import MultimodalSiameseProvider

        if self.provider is None:
            provider = MultimodalSiameseProvider()
            # The registry owns (and deletes) a provider it refuses, e.g. a duplicate id.
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    def initGui(self):  # noqa: N802 (QGIS API name)
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
