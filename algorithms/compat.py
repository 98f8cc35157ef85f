"""Processing enums for every QGIS from 3.22 to 4.x, without deprecated API.

QGIS 3.36 moved the Processing enums into scoped enums of ``Qgis`` (``Qgis.ProcessingSourceType``,
``Qgis.ProcessingParameterFlag``, ...) and deprecated the old class attributes
(``QgsProcessing.TypeRaster``, ``QgsProcessingParameterDefinition.FlagAdvanced``, ...); QGIS 4
(Qt 6) drops them. 3.22 has only the old ones. Each constant here is the scoped member where it
exists, else the old attribute: the old name is looked up only on a QGIS that lacks the new one.
The algorithms use these constants and nothing else.
"""

from qgis.core import (
    Qgis,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)


def _scoped(enum_name: str, member: str, old_owner, old_name: str):
    enum = getattr(Qgis, enum_name, None)
    if enum is not None:
        return getattr(enum, member)
    return getattr(old_owner, old_name)


# Layer types of raster, vector and multiple-layer parameters.
RASTER = _scoped("ProcessingSourceType", "Raster", QgsProcessing, "TypeRaster")
VECTOR_POINT = _scoped("ProcessingSourceType", "VectorPoint", QgsProcessing, "TypeVectorPoint")
VECTOR_POLYGON = _scoped("ProcessingSourceType", "VectorPolygon", QgsProcessing, "TypeVectorPolygon")

# Number parameter types.
INTEGER = _scoped("ProcessingNumberParameterType", "Integer", QgsProcessingParameterNumber, "Integer")
DOUBLE = _scoped("ProcessingNumberParameterType", "Double", QgsProcessingParameterNumber, "Double")

# Field parameter data types.
FIELD_ANY = _scoped("ProcessingFieldParameterDataType", "Any", QgsProcessingParameterField, "Any")
FIELD_NUMERIC = _scoped("ProcessingFieldParameterDataType", "Numeric", QgsProcessingParameterField, "Numeric")
FIELD_STRING = _scoped("ProcessingFieldParameterDataType", "String", QgsProcessingParameterField, "String")

# Parameter flags.
FLAG_ADVANCED = _scoped("ProcessingParameterFlag", "Advanced", QgsProcessingParameterDefinition, "FlagAdvanced")
FLAG_HIDDEN = _scoped("ProcessingParameterFlag", "Hidden", QgsProcessingParameterDefinition, "FlagHidden")
FLAG_OPTIONAL = _scoped("ProcessingParameterFlag", "Optional", QgsProcessingParameterDefinition, "FlagOptional")

# Algorithm flags (QgsProcessingAlgorithm.flags()).
ALGORITHM_CAN_CANCEL = _scoped("ProcessingAlgorithmFlag", "CanCancel", QgsProcessingAlgorithm, "FlagCanCancel")
ALGORITHM_NO_THREADING = _scoped("ProcessingAlgorithmFlag", "NoThreading", QgsProcessingAlgorithm,
                                 "FlagNoThreading")


def add_flag(parameter, flag):
    """Set ``flag`` on a parameter definition (works with both enum generations)."""
    parameter.setFlags(parameter.flags() | flag)
    return parameter
