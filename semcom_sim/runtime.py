"""Device, dtype and random streams: decided here once, read everywhere else from tensors.

Model initialisation, data sampling, feature selection and channel noise draw from
separate seeded generators, so changing e.g. the number of Monte-Carlo draws does not
change the trained encoders, and vice versa.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from .errors import UserError

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
SIONNA_PRECISION = {torch.float32: "single", torch.float64: "double"}


def resolve_device(name: str, *, source: str = "scenario", field: str = "device") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError("cuda requested but no GPU is available", source=source, field=field)
        # an explicit index: Sionna names devices "cuda:0", ...
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def stream_seed(seed: int, *names: str | int) -> int:
    """A 63-bit seed for the named stream, stable across runs and Python versions."""
    keys = [seed] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(keys).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype
    seed: int

    @classmethod
    def create(cls, device: str, dtype: str, seed: int, *, source: str = "scenario") -> "Runtime":
        rt = cls(resolve_device(device, source=source), _DTYPES[dtype], seed)
        rt.configure_sionna()
        return rt

    @property
    def sionna_precision(self) -> str:
        return SIONNA_PRECISION[self.dtype]

    def configure_sionna(self) -> None:
        from sionna.phy import config

        config.device = str(self.device)
        config.precision = self.sionna_precision

    def np_rng(self, *stream: str | int) -> np.random.Generator:
        return np.random.default_rng(stream_seed(self.seed, *stream))

    def torch_generator(self, *stream: str | int, device: torch.device | None = None) -> torch.Generator:
        g = torch.Generator(device=device or self.device)
        g.manual_seed(stream_seed(self.seed, *stream))
        return g

    def seed_sionna(self, *stream: str | int) -> None:
        """Sionna blocks draw from one generator per device held in its config: reseed it per stream."""
        from sionna.phy import config

        config.seed = stream_seed(self.seed, *stream)
