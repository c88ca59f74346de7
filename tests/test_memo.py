"""ui.loaders.memo: one lock per key. While a slow computation runs for key A, key B completes at once; two callers of
the same key share one computation."""
import threading
import time

from ui import loaders


def in_thread(fn):
    box = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    thread.start()
    return thread, box


def test_another_key_does_not_wait_for_a_slow_one():
    release = threading.Event()
    started = threading.Event()

    def slow(_):
        started.set()
        release.wait(30)
        return "A"

    slow_thread, slow_box = in_thread(lambda: loaders.memo(("test-slow", time.time()), slow))
    try:
        assert started.wait(10)
        t0 = time.perf_counter()
        fast_thread, fast_box = in_thread(lambda: loaders.memo(("test-fast", time.time()), lambda _: "B"))
        fast_thread.join(5)
        waited = time.perf_counter() - t0
        assert fast_box.get("value") == "B", "key B waited behind key A's computation"
        assert waited < 2.0, waited
        assert slow_thread.is_alive()  # A was still computing all along
    finally:
        release.set()
        slow_thread.join(10)
    assert slow_box["value"] == "A"


def test_the_same_key_is_computed_once():
    calls = []
    gate = threading.Event()

    def compute(_):
        calls.append(1)
        gate.wait(5)
        return len(calls)

    key = ("test-once", time.time())
    threads = [in_thread(lambda: loaders.memo(key, compute)) for _ in range(5)]
    time.sleep(0.3)
    gate.set()
    for thread, _ in threads:
        thread.join(10)
    assert len(calls) == 1
    assert [box["value"] for _, box in threads] == [1] * 5
