"""Gunicorn hooks of `incidents serve`.

A worker builds everything it keeps for its lifetime at start: the application, the parsed diagrams and forms
of every process version, SQLAlchemy's mappers. Python's cyclic garbage collector would otherwise walk all of
it again on every full collection, which pauses a request for tens of milliseconds now and then (31 ms
measured with the diagrams loaded). Frozen after start, those objects are left out of every collection; what
requests create is still collected as usual.
"""
import gc


def post_worker_init(worker):
    """After the worker loaded the application: collect start-up garbage once, then freeze what is left."""
    gc.collect()
    gc.freeze()
    worker.log.info("worker ready: %d start-up objects left out of garbage collection", gc.get_freeze_count())


STOP_SECONDS = 20  # within gunicorn's graceful timeout (30 s), after which the arbiter kills the worker


def worker_exit(server, worker):
    """A stopping worker lets its sender finish the message it is sending (and put back the rest of its batch)
    and its ticker the tick in progress, rather than dying in the middle of them."""
    from engine.background import stop_all
    threads = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("incidents_background")
    if not threads:
        return
    still = stop_all(threads, STOP_SECONDS)
    if still:
        worker.log.warning("stopped with %s still running", ", ".join(still))
