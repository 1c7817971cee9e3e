"""Resident memory of a process, read from ``/proc/<pid>/status`` (Linux).

Peak memory is ``VmHWM``, the high-water mark of the process's own address
space. Not ``ru_maxrss``: Linux keeps that figure across ``exec``, so a worker
started from a large parent (a benchmark's main process, a shell, pytest)
reports the parent's peak whenever it stays below it.

Standard library only: peers' workers import this in their own environments.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``) in MiB; None if unreadable."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def peak_rss_mb(pid: int | str = "self") -> float:
    """The peak resident memory of a process (this one by default), in MiB.

    Without ``/proc`` (not Linux) it falls back to this process's ``ru_maxrss``,
    which may include a parent's peak (see the module's docstring).
    """
    peak = status_mb("VmHWM", pid)
    if peak is not None:
        return peak
    if pid != "self":
        raise OSError(f"cannot read the peak memory of process {pid}: no /proc/{pid}/status")
    peak_units = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak_units / 2**20 if sys.platform == "darwin" else peak_units / 1024  # bytes or KiB
