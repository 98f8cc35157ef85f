"""Errors the analyst can act on. Algorithms turn them into QgsProcessingException."""


class InputError(ValueError):
    """Bad input data or parameters, explained in one sentence an analyst understands."""


class Cancelled(Exception):
    """The user cancelled the run."""
