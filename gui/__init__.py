"""QGIS desktop only: the plugin menu and toolbar button, and the dependency installer.

Nothing here runs headless (qgis_process calls initProcessing, never initGui)."""
