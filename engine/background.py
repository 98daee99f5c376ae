"""Jobs that run every few seconds in a daemon thread of each served worker (timers, the notification sender)."""
import logging
import threading
import time

log = logging.getLogger(__name__)


def run_every(seconds: float, name: str, job, stop=None) -> threading.Thread:
    """Call `job()` every `seconds` until the thread's `stop` event is set; a failing run is logged, not fatal.

    A job that takes long can watch `stop` too (pass the event in) and end early when it is set."""
    def loop():
        while not stop.wait(seconds):
            try:
                job()
            except Exception:  # keep going: one bad run must not stop the next ones
                log.exception("%s failed", name)
    stop = stop or threading.Event()
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.stop = stop
    thread.start()
    return thread


def stop_all(threads, timeout: float) -> list:
    """Ask each thread of `run_every` to stop, then wait up to `timeout` seconds in all for them to end;
    returns the names of those still running (a daemon thread dies with its process)."""
    for thread in threads:
        thread.stop.set()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread.name for thread in threads if thread.is_alive()]
