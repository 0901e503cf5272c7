"""Where trials run: ``local`` (this process, or one worker process per visible GPU)
or ``ray`` (a local Ray instance, or an existing cluster at ``--ray-address``).

An executor takes an objective and a list of trials and calls ``on_result(trial,
result)`` in the driver process as each result arrives; only the driver writes
records, so every executor leaves the same records. Work is split into *tasks*: one
trial each, or, for a vectorised objective (the quadratic toy), chunks of trials
evaluated by one simulator call — one chunk per seed when running in one process,
split further across workers when there are several.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from dynamics.registry import EXECUTORS  # the CLI's choice list: local, ray
from dynamics.util.errors import RidgelineError
from dynamics.util.io import hold_worker_lock
from training.search.records import Trial

OnResult = Callable[[Trial, dict], None]


def split_tasks(objective, trials: list[Trial], workers: int) -> list[list[Trial]]:
    """Trials grouped into tasks: singletons, or per-seed chunks for a vectorised objective."""
    if not objective.vectorised:
        return [[t] for t in trials]
    tasks = []
    for seed in sorted({t.params["seed"] for t in trials}):
        group = [t for t in trials if t.params["seed"] == seed]
        n = max(1, min(workers, len(group)))
        size = -(-len(group) // n)
        tasks += [group[i:i + size] for i in range(0, len(group), size)]
    return tasks


def _evaluate(objective, trials: list[Trial], workdir: str, report=None) -> list[dict]:
    return objective.evaluate(trials, workdir, report)


def visible_gpus() -> list[str]:
    """Ids of the CUDA devices this process may use (empty without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [d.strip() for d in listed.split(",") if d.strip()][: torch.cuda.device_count()]
    return [str(i) for i in range(torch.cuda.device_count())]


def _pin_gpu(gpus: list[str], counter) -> None:
    """Take the next GPU id and make it the only one visible."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]


def die_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """End this process when ``parent`` dies, even by kill -9: the kernel's parent-death
    signal on Linux (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), and everywhere a daemon thread
    that exits once ``os.getppid()`` is no longer ``parent``."""
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread remains
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _worker_init(parent: int, workdir: str, gpus: list[str], counter) -> None:
    """Worker initialiser: die with the driver, mark the work directory as in use by a
    worker (a rerun waits for leftovers), take a GPU when there are several."""
    die_with_parent(parent)
    hold_worker_lock(workdir)
    if gpus:
        _pin_gpu(gpus, counter)


@dataclass(frozen=True)
class LocalExecutor:
    """Run tasks in this process, or in ``workers`` processes (one per GPU by default)."""

    workers: int | None = None  # None: one per visible GPU when the objective trains on CUDA

    def _workers(self, objective) -> tuple[int, list[str]]:
        if self.workers is not None:
            return self.workers, []
        if objective.vectorised or getattr(objective.base, "device", "cpu") == "cpu":
            return 1, []
        gpus = visible_gpus()
        return max(1, len(gpus)), gpus

    def run(self, objective, trials: list[Trial], workdir: str, on_result: OnResult,
            report=None) -> None:
        """Evaluate ``trials``; ``report(text)`` shows in-process progress within a trial."""
        workers, gpus = self._workers(objective)
        tasks = split_tasks(objective, trials, workers)
        if workers <= 1:
            for task in tasks:
                for trial, result in zip(task, _evaluate(objective, task, workdir, report)):
                    on_result(trial, result)
            return
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = multiprocessing.get_context("spawn")
        init_args = (os.getpid(), workdir, gpus, ctx.Value("i", 0) if gpus else None)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=init_args) as pool:
            futures = {pool.submit(_evaluate, objective, task, workdir): task for task in tasks}
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        for trial, result in zip(futures[future], future.result()):
                            on_result(trial, result)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


LOOPBACK = "127.0.0.1"
# Ray on Linux resolves a node's address to the host's outward IP, and its gRPC
# servers (gcs_server, raylet, workers, agents) then listen on every interface; with
# this flag off it resolves to loopback and they bind 127.0.0.1 only. Ray reads it
# from the environment (in its own child processes) and from ray_constants (here).
_CLUSTER_FLAG = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_ray(ray, num_cpus: int | None = None) -> None:
    """``ray.init`` a single-machine instance whose every server listens on loopback only.

    Refuses (after shutting it down) an instance that still advertises another address:
    a Ray instance has no authentication worth relying on, so nothing it serves may be
    reachable from the network.
    """
    os.environ[_CLUSTER_FLAG] = "0"
    _set_cluster_flag(False)  # ray may have been imported before the variable was set
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             _node_ip_address=LOOPBACK)
    _REAPERS.append(start_reaper())
    addresses = {node.get("NodeManagerAddress") for node in ray.nodes()}
    if addresses != {LOOPBACK}:
        stop_ray(ray)
        raise RidgelineError(f"a local Ray instance advertised {sorted(map(str, addresses))}, not "
                             f"{LOOPBACK} only; refusing to run trials reachable from the network "
                             "(start a secured cluster and pass --ray-address)")


def stop_ray(ray) -> None:
    """Shut down what ``ray.init`` started here and undo :func:`start_local_ray`'s flag."""
    ray.shutdown()
    os.environ.pop(_CLUSTER_FLAG, None)
    _set_cluster_flag(True)
    while _REAPERS:
        reaper = _REAPERS.pop()
        if reaper is not None:
            reaper.kill()
            reaper.wait()


_REAPERS: list = []  # reaper processes of the local Ray instances started here
# Ray's agents poll their raylet for minutes before noticing that a kill -9 took the
# driver; this watcher notes the driver's process tree every half second and, once the
# driver is gone, kills what was in it. Linux (/proc) only.
_REAPER = """
import os, signal, sys, time
driver, seen = int(sys.argv[1]), {}
def start(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None
while start(driver) is not None and os.getppid() == driver:
    children = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            children.setdefault(int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
        except OSError:
            pass
    stack, tree = [driver], {}
    while stack:
        for child in children.get(stack.pop(), []):
            if child != os.getpid():
                tree[child] = start(child)
                stack.append(child)
    seen = tree
    time.sleep(0.5)
for pid, began in seen.items():
    if began is not None and start(pid) == began:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


def start_reaper():
    """Start the watcher that kills this process's tree if this process is killed (Linux)."""
    import subprocess
    import sys

    if not os.path.isdir("/proc/self"):
        return None
    return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid())], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _set_cluster_flag(value: bool) -> None:
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - another Ray layout
        return
    if hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        ray_constants.ENABLE_RAY_CLUSTER = value and not ray_constants.IS_WINDOWS_OR_OSX


@dataclass(frozen=True)
class RayExecutor:
    """Run each task as a Ray task asking for the resources given."""

    address: str | None = None  # an existing cluster ("auto", "ray://host:10001"); None: start one
    cpus_per_trial: float = 1.0  # CPU cores each task asks Ray for
    gpus_per_trial: float = 0.0  # GPUs (or fractions) each task asks Ray for
    num_cpus: int | None = None  # cores of a local instance (None: all)

    def run(self, objective, trials: list[Trial], workdir: str, on_result: OnResult,
            report=None) -> None:
        try:
            import ray
        except ImportError:
            raise RidgelineError(
                "--executor ray needs Ray: pip install 'ridgeline[ray]'") from None
        started = not ray.is_initialized()
        if started:
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    start_local_ray(ray, self.num_cpus)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = self.address or "a local instance"
                raise RidgelineError(f"cannot start Ray at {where}: {e}".splitlines()[0]) from None
        try:
            self._run(ray, objective, trials, workdir, on_result)
        finally:
            if started:
                stop_ray(ray)

    def _run(self, ray, objective, trials, workdir, on_result) -> None:
        resources = ray.cluster_resources()
        slots = int(resources.get("CPU", 1) // max(self.cpus_per_trial, 1e-9))
        if self.gpus_per_trial > 0:
            if resources.get("GPU", 0) < self.gpus_per_trial:
                raise RidgelineError(
                    f"--gpus-per-trial {self.gpus_per_trial} but the Ray cluster has "
                    f"{resources.get('GPU', 0):g} GPUs; lower it or add GPU nodes")
            slots = min(slots, int(resources["GPU"] // self.gpus_per_trial))
        remote = ray.remote(_evaluate).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=1)
        objective_ref = ray.put(objective)
        tasks = split_tasks(objective, trials, max(1, slots))
        refs = {remote.remote(objective_ref, task, workdir): task for task in tasks}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        results = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        cause = e.as_instanceof_cause()
                        if isinstance(cause, RidgelineError):
                            raise RidgelineError(str(cause).splitlines()[0]) from None
                        raise
                    for trial, result in zip(refs[ref], results):
                        on_result(trial, result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise


#: Ray counts resources in steps of 1e-4 (a smaller request is refused or rounded to 0)
RAY_RESOLUTION = 1e-4


def check_resources(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """One-line errors for resource requests Ray cannot take, before Ray starts: finite,
    CPUs >= 1e-4, GPUs 0 or >= 1e-4, and (Ray's rule) whole numbers above 1."""
    import math

    for option, value, least in (("--cpus-per-trial", cpus_per_trial, RAY_RESOLUTION),
                                 ("--gpus-per-trial", gpus_per_trial, 0.0)):
        if not (math.isfinite(value) and (value >= least or value == least == 0.0)) or 0 < value < RAY_RESOLUTION:
            raise RidgelineError(f"{option} must be a finite number {'> 0' if least else '>= 0'} (at least "
                                 f"{RAY_RESOLUTION:g}, Ray's resolution), got {value:g}")
        if value > 1 and value != int(value):
            raise RidgelineError(f"{option} above 1 must be a whole number (Ray's rule), got {value:g}")


def make_executor(name: str, *, workers: int | None = None, ray_address: str | None = None,
                  cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0):
    """The executor called ``name`` (local or ray) with its options checked."""
    if name not in EXECUTORS:
        raise RidgelineError(f"unknown executor {name!r}; use local or ray")
    if workers is not None and workers < 1:
        raise RidgelineError(f"--workers must be >= 1, got {workers}")
    check_resources(cpus_per_trial, gpus_per_trial)
    if name == "local":
        if ray_address or gpus_per_trial:
            raise RidgelineError("--ray-address and --gpus-per-trial need --executor ray")
        return LocalExecutor(workers)
    return RayExecutor(ray_address, cpus_per_trial, gpus_per_trial)
