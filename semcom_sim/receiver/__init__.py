"""Receiver: classification heads on the received payload."""
from .heads import LinearHead, fit_linear_head, topk_accuracy

__all__ = ["LinearHead", "fit_linear_head", "topk_accuracy"]
