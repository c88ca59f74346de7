"""ui.jobs + loaders.memo_or_start: one background job per key across sessions, its value shared with `memo`, its
failure kept as a message until someone asks again."""
import threading
import time

from ui import jobs, loaders
from vae_core.errors import VAEError


def counting(gate: threading.Event, value="map", error: Exception | None = None):
    calls = []

    def compute(progress):
        calls.append(1)
        progress(0.5, "half way")
        assert gate.wait(30)
        if error is not None:
            raise error
        return value
    return compute, calls


def test_two_requests_share_one_job_and_memo_waits_for_it():
    gate, key = threading.Event(), ("test-job", time.time())
    compute, calls = counting(gate)
    first, job = loaders.memo_or_start(key, compute, "The test map")
    again, same = loaders.memo_or_start(key, compute, "The test map")  # another session, meanwhile
    assert first is None and again is None and same is job and job.running
    deadline = time.time() + 10
    while job.message != "half way" and time.time() < deadline:
        time.sleep(0.01)
    assert (job.fraction, job.message) == (0.5, "half way")  # its progress, readable by any session

    box = {}
    waiter = threading.Thread(target=lambda: box.update(value=loaders.memo(key, compute)), daemon=True)
    waiter.start()  # a page that needs the value now waits on the job instead of computing it again
    time.sleep(0.3)
    assert waiter.is_alive()
    gate.set()
    waiter.join(10)
    assert job.ended.wait(10) and job.status == jobs.DONE
    assert box["value"] == "map"
    assert loaders.memo_or_start(key, compute, "The test map") == ("map", None)
    assert len(calls) == 1


def test_a_value_found_in_the_cache_starts_no_job():
    key = ("test-cached", time.time())
    compute, calls = counting(threading.Event())
    assert loaders.memo_or_start(key, compute, "The test map", cached=lambda: "from disk") == ("from disk", None)
    assert jobs.shared_jobs().get(key) is None and not calls


def test_a_failure_is_kept_as_a_message_until_tried_again():
    gate, key = threading.Event(), ("test-fail", time.time())
    compute, calls = counting(gate, error=VAEError("UMAP needs at least 5 points"))
    gate.set()
    _, job = loaders.memo_or_start(key, compute, "The test map")
    assert job.ended.wait(10)
    assert job.status == jobs.FAILED and job.error == "UMAP needs at least 5 points"
    assert loaders.memo_or_start(key, compute, "The test map") == (None, job)  # not started again by each rerun
    assert len(calls) == 1
    loaders.retry(key)
    retried = jobs.shared_jobs().get(key)
    assert retried is not job and retried.ended.wait(10) and len(calls) == 2


def test_an_unexpected_error_is_a_message_too():
    key = ("test-crash", time.time())
    _, job = loaders.memo_or_start(key, lambda progress: 1 / 0, "The test map")
    assert job.ended.wait(10)
    assert job.status == jobs.FAILED and job.error.startswith("ZeroDivisionError")
