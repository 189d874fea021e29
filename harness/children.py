"""Stopping a child process the harness started (the simulator, the embedded broker)."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["stop_child"]


def stop_child(proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (the child's own clean stop), then SIGKILL when it has not ended within
    ``timeout`` seconds; returns once it has ended. A child already ended is left alone."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
