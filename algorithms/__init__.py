"""Processing algorithms, one per file; each is a thin adapter over the QGIS-free core."""


def all_algorithms():
    from .classify import ClassifyAlgorithm
    from .embed import EmbedAlgorithm
    from .evaluate import EvaluateAlgorithm
    from .pretrain import PretrainAlgorithm
    from .suggest_sites import SuggestSitesAlgorithm
    from .train_classifier import TrainClassifierAlgorithm

    return [PretrainAlgorithm, TrainClassifierAlgorithm, ClassifyAlgorithm, SuggestSitesAlgorithm,
            EmbedAlgorithm, EvaluateAlgorithm]
