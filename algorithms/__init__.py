"""Processing algorithms, one per file; each is a thin adapter over the QGIS-free core."""


def all_algorithms():
    from .classify import ClassifyAlgorithm
    from .evaluate import EvaluateAlgorithm
    from .pretrain import PretrainAlgorithm
    from .train_classifier import TrainClassifierAlgorithm

    return [PretrainAlgorithm, TrainClassifierAlgorithm, ClassifyAlgorithm, EvaluateAlgorithm]
