"""Shared timing for the benchmarks: medians after a warm-up, never a single noisy sample."""
import statistics
import time


def p50_ms(work, repeats: int) -> float:
    """Median wall time of `work()` in milliseconds over `repeats` runs, after one warm-up call."""
    work()  # warm-up: first calls pay allocator and kernel selection costs
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
