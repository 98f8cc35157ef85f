"""The "Multimodal Siamese" plugin menu and toolbar button: one action per algorithm."""

from __future__ import annotations

from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QMenu, QToolButton

from ..algorithms import all_algorithms
from ..algorithms.common import ICON_PATH

MENU_NAME = "&Multimodal Siamese"
PROVIDER_ID = "mmsiam"


def open_algorithm_dialog(algorithm_id: str):
    # Imported when used: the processing plugin may load after this one.
    import processing

    processing.execAlgorithmDialog(algorithm_id)


class PluginMenu:
    def __init__(self, iface):
        self.iface = iface
        self.actions = []
        self.tool_button = None
        self.toolbar_action = None

    def setup(self):
        parent = self.iface.mainWindow()
        for algorithm_class in all_algorithms():
            algorithm = algorithm_class()
            algorithm_id = f"{PROVIDER_ID}:{algorithm.name()}"
            action = QAction(QIcon(algorithm.svgIconPath()), algorithm.displayName() + "…", parent)
            action.setObjectName(f"mmsiam_{algorithm.name()}")
            action.setToolTip(algorithm.displayName())
            action.triggered.connect(lambda _checked=False, a=algorithm_id: open_algorithm_dialog(a))
            self.iface.addPluginToMenu(MENU_NAME, action)
            self.actions.append(action)
        # One button for the three steps: a click drops down the menu of algorithms.
        menu = QMenu(parent)
        menu.addActions(self.actions)
        button = QToolButton(parent)
        button.setObjectName("mmsiam_toolbutton")
        button.setIcon(QIcon(ICON_PATH))
        button.setToolTip("Multimodal Siamese Land Cover")
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.tool_button = button
        self.toolbar_action = self.iface.addToolBarWidget(button)

    def unload(self):
        for action in self.actions:
            self.iface.removePluginMenu(MENU_NAME, action)
            action.deleteLater()
        self.actions = []
        if self.toolbar_action is not None:
            self.iface.removeToolBarIcon(self.toolbar_action)
            self.toolbar_action = None
        if self.tool_button is not None:
            self.tool_button.menu().deleteLater()
            self.tool_button.deleteLater()
            self.tool_button = None

