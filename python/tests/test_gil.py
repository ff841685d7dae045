"""The GIL is released while the core runs: another Python thread makes
progress during long runs."""

import threading
import time

import overlin


def test_thread_runs_during_long_runs():
    # Ill-conditioned data: slow convergence, so every call runs its full cap.
    prob = overlin.problem(n=30, m=30, h=600, samples=60, kappa=1e3, seed=1)
    ticks = []
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=worker)
    th.start()
    calls = []
    try:
        time.sleep(0.01)
        # Repeat runs until they took 0.3 s in all (the machine may be slow or busy).
        while sum(b - a for a, b in calls) < 0.3:
            a = time.perf_counter()
            res = prob.run(iters=200, tol=1e-300, stall_window=0)
            calls.append((a, time.perf_counter()))
            assert res.iterations > 0
    finally:
        stop.set()
        th.join()
    during = [t for t in ticks if any(a < t < b for a, b in calls)]
    # With the GIL held for a whole call, the worker could not tick inside
    # it (at most once per call, at its boundary); released, it ticks about
    # every millisecond whenever it gets a core.
    assert len(during) >= len(calls) + 10, (len(during), len(calls))


def test_ctrl_c_stops_a_long_run():
    import os
    import signal

    prob = overlin.problem(n=30, m=30, h=600, samples=60, kappa=1e3, seed=1)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        try:
            prob.run(iters=10**7, tol=1e-300, stall_window=0)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the run ended without being interrupted")
    finally:
        timer.cancel()
    # Stopped within a fraction of a second of the signal, not at the cap.
    assert time.perf_counter() - t0 < 5.0
