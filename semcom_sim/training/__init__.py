"""Contrastive training of the encoders at a fixed temperature, with optional gap-closing terms."""
from .losses import atp_loss, cu_loss, info_nce, multimodal_info_nce, total_loss
from .preparation import embed
from .trainer import TrainedEncoders, train_or_load

__all__ = ["atp_loss", "cu_loss", "info_nce", "multimodal_info_nce", "total_loss", "TrainedEncoders", "embed",
           "train_or_load"]
