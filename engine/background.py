"""Jobs that run every few seconds in a daemon thread of each served worker (timers, the notification sender)."""
import logging
import threading

log = logging.getLogger(__name__)


def run_every(seconds: float, name: str, job) -> threading.Thread:
    """Call `job()` every `seconds` until the thread's `stop` event is set; a failing run is logged, not fatal."""
    def loop():
        while not stop.wait(seconds):
            try:
                job()
            except Exception:  # keep going: one bad run must not stop the next ones
                log.exception("%s failed", name)
    stop = threading.Event()
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.stop = stop
    thread.start()
    return thread
