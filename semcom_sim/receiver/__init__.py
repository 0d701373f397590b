"""Receiver: classification heads on the received payload."""
from .heads import LinearHead, fit_linear_head, mean_average_precision, micro_f1, score, topk_accuracy

__all__ = ["LinearHead", "fit_linear_head", "mean_average_precision", "micro_f1", "score", "topk_accuracy"]
