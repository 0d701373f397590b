"""Receiver: classification heads on the received payload."""
from .heads import HEADS, LinearHead, fit_linear_head, mean_average_precision, micro_f1, score, topk_accuracy

__all__ = ["HEADS", "LinearHead", "fit_linear_head", "mean_average_precision", "micro_f1", "score", "topk_accuracy"]
