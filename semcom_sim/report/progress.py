"""Console progress for training and the channel stage; the pipeline talks to a Reporter, never to rich."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


class Reporter:
    """Collects stage timings; subclasses also show progress."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def message(self, text: str) -> None:
        pass

    def epoch(self, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        pass

    def channel_start(self, total: int) -> None:
        pass

    def channel_advance(self, label: str) -> None:
        pass

    def close(self) -> None:
        pass


NullReporter = Reporter


class RichReporter(Reporter):
    def __init__(self, console=None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=self.console, transient=False)
        self._train = self._channel = None
        self._progress.start()

    def message(self, text: str) -> None:
        self.console.print(text)

    def epoch(self, epoch: int, epochs: int, losses: dict[str, float]) -> None:
        if self._train is None:
            self._train = self._progress.add_task("training", total=epochs)
        desc = "training " + " ".join(f"{k}={v:.3f}" for k, v in losses.items())
        # stages (warm-up, contrastive, through the channel) report their own epoch counts on one bar
        self._progress.update(self._train, completed=epoch, total=epochs, description=desc)

    def channel_start(self, total: int) -> None:
        self._channel = self._progress.add_task("channel", total=total)

    def channel_advance(self, label: str) -> None:
        self._progress.update(self._channel, advance=1, description=f"channel {label}")

    def close(self) -> None:
        self._progress.stop()
