"""Where a batch's group tasks run: in this process, or on a ``dask.distributed`` cluster — a LocalCluster of
``workers`` processes or an existing scheduler (``dask scheduler`` / ``dask worker`` on each machine). Dask is the
engine: it places tasks, moves their inputs, and retries a task whose worker died on another one.
"""
from __future__ import annotations

__all__ = ["client", "Done", "Runner"]


def client(workers: int, scheduler: str | None):
    """A Dask client: of the scheduler at ``scheduler`` (``tcp://HOST:PORT``), else of a new LocalCluster of
    ``workers`` single-threaded processes (returned too, to be closed)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


class Done:
    """A result computed in this process, standing for a Dask future where there is no cluster."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class Runner:
    """Where the groups' tasks run: in this process, or on a ``dask.distributed`` cluster (whose scheduler
    retries a task whose worker died, on another worker). Also measures the time the batch's own process spends
    while no task is running (the serial share of :mod:`benchmarks.bench_batch`)."""

    def __init__(self, client=None):
        self.client = client
        self.workers = max(1, len((client.scheduler_info().get("workers") or {})) if client is not None else 1)

    def scatter(self, value):
        return Done(value) if self.client is None else self.client.scatter(value, broadcast=True, hash=False)

    def submit(self, fn, *args, key: str | None = None):
        if self.client is None:
            return Done(fn(*(a.value if isinstance(a, Done) else a for a in args)))
        return self.client.submit(fn, *args, key=key, pure=False)

    def map(self, fn, items: list) -> list:
        """``fn`` over ``items``, results in order (the builtin map's contract, for the capacity solve)."""
        if self.client is None or len(items) <= 1:
            return [fn(item) for item in items]
        return self.client.gather(self.client.map(fn, items, pure=False))

    def completed(self, futures: list):
        """The futures as they finish (in order here, where each finished when submitted)."""
        if self.client is None:
            yield from futures
            return
        from dask.distributed import as_completed

        yield from as_completed(futures)
