"""Ray as the executor: one task per cell, on a local Ray started on demand or on the cluster at
``--address`` / ``$RAY_ADDRESS``. Ray does the scheduling, placement and retries; this module only
says what each cell needs and in what order cells may start:

* **Trained encoders once per key.** Cells whose encoders are not cached yet wait for the first
  cell of their encoder key (its "leader"), which trains and caches them; the others then load
  them. If the leader fails, the next cell of the key becomes the leader. (The cache's lock would
  also keep two workers from training the same key, but one of them would sit idle holding a CPU.)
* **Faults.** A worker process that dies mid-cell (killed, out of memory, node lost) is retried by
  Ray (``max_retries``); its staging folder is never a cell folder (runs write their folder
  atomically) and is removed by the next run into that parent. An error raised by a cell is not
  retried (it would fail again): the cell is reported failed and the others go on.
* **Threads.** Ray gives each cell ``num_cpus`` CPUs; the cell runs with that many torch threads
  (rounded up), as under the local executor, so both produce the same numbers.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections import deque
from contextlib import contextmanager
from typing import Callable, Iterator

from ..errors import UserError
from ..interrupts import SIGNALS, Interrupted
from . import CellTask, run_cell

# a worker that dies is retried this many times; an exception raised by the cell is not retried
MAX_RETRIES = 3
_POLL_S = 0.2  # how long the driver waits for a cell before it looks at signals again


@contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Ctrl-C, SIGTERM and SIGHUP only recorded (in the yielded list) while the driver waits in
    Ray: an exception raised by a signal handler inside Ray's compiled ``wait`` comes out as a
    SystemError, so the loop polls the list instead and raises :class:`Interrupted` itself."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield seen
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("the ray executor needs Ray: pip install -c constraints.txt -e '.[ray]'",
                        field="--executor") from None
    return ray


def _cell(task: CellTask, cwd: str) -> dict:
    """The body of a Ray task: the cell's outcome as a dict (an error is returned, not raised, so
    that the driver shows one line for a user mistake and Ray does not retry it)."""
    from ..errors import TrainingDiverged

    if os.path.isdir(cwd):  # relative paths in a scenario mean what they mean to the driver
        os.chdir(cwd)
    t0 = time.perf_counter()
    try:
        run_cell(task)
    except (UserError, TrainingDiverged) as e:
        return {"error": str(e).splitlines()[0]}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}".splitlines()[0], "traceback": traceback.format_exc()}
    return {"seconds": time.perf_counter() - t0, "pid": os.getpid()}


def _check_reachable(address: str, field: str) -> None:
    """Fail in seconds, in one line, on a ``host:port`` (or ``ray://host:port``) that does not
    answer: ``ray.init`` would retry for minutes, printing warnings. ``auto`` and other forms are
    left to Ray, which answers at once when it finds no cluster."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not (sep and host and port.isdigit()):
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(f"cannot reach Ray at {address} ({e.strerror or type(e).__name__}); start it with "
                        f"`ray start --head` there, or leave --address out for a local Ray", field=field) from None


def connect(address: str | None):
    """Ray, connected: to ``address`` (or ``$RAY_ADDRESS``) if given, else to a local Ray started
    now; returns the module and whether this call started Ray (and so must stop it)."""
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    import logging

    field = "--address" if address else "$RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address, field)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR,
                 configure_logging=True, log_to_driver=True)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise UserError(f"cannot connect to Ray at {address or 'a new local instance'}: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}", field=field) from None
    return ray, True


@contextmanager
def session(*, address: str | None = None, max_parallel: int | None = None, progress: bool = True):
    """Connected to Ray for the sweep (before its output folder is made, so a bad address writes
    nothing); yields the function that runs the cells; stops a Ray it started."""
    ray, started = connect(address)

    def run_cells(tasks: list[CellTask], *, log: Callable[[str], None] = print, **_) -> dict[str, str]:
        return _schedule(ray, tasks, log, max_parallel, progress) if tasks else {}

    try:
        yield run_cells
    finally:
        if started:
            ray.shutdown()


def gpu_share(task: CellTask, cluster_gpus: float) -> float:
    """The GPU share a cell asks Ray for: its ``num_gpus`` when its scenario says ``device: cuda``,
    or ``auto`` on a cluster that has GPUs; else none. A task that asks for none sees no GPU (Ray
    hides them from it), so ``auto`` then resolves to the CPU in the worker."""
    if task.scenario.device == "cuda" or (task.scenario.device == "auto" and cluster_gpus > 0):
        return task.num_gpus
    return 0.0


def _slots(ray, tasks: list[CellTask], max_parallel: int | None) -> int:
    """How many cells to keep submitted at once: ``max_parallel``, else as many as the cluster's
    CPUs hold, so that "running" in the progress line means running, not queued in Ray."""
    if max_parallel:
        return max_parallel
    cpus = ray.cluster_resources().get("CPU", 1.0)
    per_cell = max(t.num_cpus for t in tasks)
    return max(1, int(cpus // per_cell))


def _schedule(ray, tasks: list[CellTask], log, max_parallel: int | None, progress: bool) -> dict[str, str]:
    remote = ray.remote(_cell)
    cwd = os.getcwd()
    cluster_gpus = ray.cluster_resources().get("GPU", 0.0)
    ready: deque[CellTask] = deque()
    waiting: dict[str, deque[CellTask]] = {}  # encoder key -> cells waiting for its leader
    for t in tasks:
        if t.encoders_cached or t.encoder_key not in waiting:
            ready.append(t)
            if not t.encoders_cached:
                waiting[t.encoder_key] = deque()
        else:
            waiting[t.encoder_key].append(t)
    inflight: dict = {}  # ObjectRef -> task
    failed: dict[str, str] = {}
    done = 0
    slots = _slots(ray, tasks, max_parallel)
    bar = _Progress(len(tasks)) if progress else None

    def submit(t: CellTask) -> None:
        ref = remote.options(num_cpus=t.num_cpus, num_gpus=gpu_share(t, cluster_gpus), max_retries=MAX_RETRIES,
                             retry_exceptions=False, name=f"cell {t.name}").remote(t, cwd)
        inflight[ref] = t

    try:
        with _signals_deferred() as stop:  # Ctrl-C: cancel the running cells, then leave
            while ready or inflight:
                while ready and len(inflight) < slots:
                    submit(ready.popleft())
                if bar:
                    bar.update(done, len(inflight), len(failed))
                finished, _ = ray.wait(list(inflight), num_returns=1, timeout=_POLL_S)
                if stop:
                    raise Interrupted(stop[0])
                if not finished:
                    continue
                ref = finished[0]
                t = inflight.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as e:  # the worker died more often than it is retried
                    outcome = {"error": f"{type(e).__name__} after {MAX_RETRIES} retries: "
                                        f"{(str(e).strip().splitlines() or [''])[0]}"}
                followers = waiting.pop(t.encoder_key, None) if not t.encoders_cached else None
                if "error" in outcome:
                    failed[t.name] = outcome["error"]
                    log(f"cell {t.name} failed: {outcome['error']}")
                    if outcome.get("traceback"):
                        log(outcome["traceback"].rstrip())
                    if followers:  # the next cell of the key trains the encoders instead
                        waiting[t.encoder_key] = followers
                        ready.append(followers.popleft())
                else:
                    done += 1
                    log(f"[{done + len(failed)}/{len(tasks)}] {t.name}: done in {outcome['seconds']:.1f} s "
                        f"(worker {outcome['pid']})")
                    if followers:
                        ready.extend(followers)
    except BaseException:
        for ref in inflight:
            ray.cancel(ref, force=True)
        raise
    finally:
        if bar:
            bar.close(done, len(failed))
    return failed


class _Progress:
    """One rich line: cells done / running / failed / waiting."""

    def __init__(self, total: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.total = total
        self._p = Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.description}"), TimeElapsedColumn())
        self._id = self._p.add_task("", total=total)
        self._p.start()

    def update(self, done: int, running: int, failed: int) -> None:
        waiting = self.total - done - running - failed
        self._p.update(self._id, completed=done + failed,
                       description=f"{done} done, {running} running, {failed} failed, {waiting} waiting")

    def close(self, done: int, failed: int) -> None:
        self.update(done, 0, failed)
        self._p.stop()
