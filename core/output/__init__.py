"""What the plugin writes besides the map: reports, QGIS styles, class colours, and whole-or-nothing files."""
