"""The GIL is released while the core runs: another Python thread makes
progress during a long run."""

import threading
import time

import numpy as np

import overlin


def test_thread_runs_during_a_long_run():
    prob = overlin.problem(n=30, m=30, h=600, samples=60, seed=1)
    # Warm up, and size the run so that it takes a noticeable time here.
    t0 = time.perf_counter()
    prob.run(iters=20, tol=1e-300, stall_window=0)
    per_step = (time.perf_counter() - t0) / 20
    iters = int(min(20000, max(50, 0.5 / per_step)))

    ticks = []
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=worker)
    th.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        res = prob.run(iters=iters, tol=1e-300, stall_window=0)
        end = time.perf_counter()
    finally:
        stop.set()
        th.join()
    assert res.iterations > 0
    during = [t for t in ticks if start < t < end]
    # With the GIL held for the whole call, the worker could not tick at all
    # between start and end (at most once, at a boundary); released, it ticks
    # about every millisecond when it gets a core (the machine may be busy).
    assert end - start > 0.1
    assert len(during) >= 10, (len(during), end - start)
