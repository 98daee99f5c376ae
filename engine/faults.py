"""Test-only pause points: a worker stops at a named point of a write so a test can kill it right there.

Off unless INCIDENTS_TEST_PAUSE names a point; each pause happens once (the marker file is created
exclusively), so the retry after the kill runs straight through.
"""
import os
import time

POINTS = ("after_validation", "after_engine_step", "after_flush", "after_commit")
_config = {"point": None, "marker": None}


def configure(point, marker_file) -> None:
    """Arm one pause point (from settings, at application start)."""
    if point and point not in POINTS:
        raise ValueError(f"unknown pause point {point!r}; one of {', '.join(POINTS)}")
    _config.update(point=point, marker=marker_file)


def checkpoint(name) -> None:
    """Pause here (write our pid to the marker file, then sleep) if this is the armed point."""
    if _config["point"] != name or not _config["marker"]:
        return
    try:
        fd = os.open(_config["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    time.sleep(120)
