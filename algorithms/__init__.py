"""Processing algorithms, one per file; each is a thin adapter over the QGIS-free core."""


def all_algorithms():
    from .classify import ClassifyAlgorithm
    from .embed import EmbedAlgorithm
    from .evaluate import EvaluateAlgorithm
    from .map_from_labels import MapFromLabelsAlgorithm
    from .pretrain import PretrainAlgorithm
    from .suggest_sites import SuggestSitesAlgorithm
    from .train_classifier import TrainClassifierAlgorithm

    # The one-dialog workflow first: menus and the toolbar list them in this order.
    return [MapFromLabelsAlgorithm, PretrainAlgorithm, TrainClassifierAlgorithm, ClassifyAlgorithm,
            SuggestSitesAlgorithm, EmbedAlgorithm, EvaluateAlgorithm]
