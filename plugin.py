"""Plugin entry point: registers the Processing provider (also headless, via initProcessing);
in QGIS desktop also the plugin menu, a toolbar button and the missing-dependencies offer."""

from qgis.core import QgsApplication


class MultimodalSiamesePlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.menu = None
        self.installer = None
        self.style_watch = None

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
        from .gui.dependencies import DependencyInstaller
        from .gui.menu import PluginMenu
        from .algorithms.styling import ProjectStyleWatch

        # The classified map and its confidence styled whatever path adds them (modeler too).
        self.style_watch = ProjectStyleWatch()

        self.menu = PluginMenu(self.iface)
        self.menu.setup()
        self.installer = DependencyInstaller(self.iface)
        self.installer.offer_if_missing()

    def unload(self):
        if self.style_watch is not None:
            self.style_watch.unload()
            self.style_watch = None
        if self.menu is not None:
            self.menu.unload()
            self.menu = None
        if self.installer is not None:
            self.installer.unload()
            self.installer = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
