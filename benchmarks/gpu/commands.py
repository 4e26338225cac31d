"""Running the GPU script's subprocesses inside one wall-clock budget.

The device machine is lent for minutes: one call of ``python -m benchmarks.gpu``
must end inside its limit and still write its report. So every measurement runs
in a subprocess whose timeout is what the budget has left (never more than the
step's own cap), a step that cannot get the seconds it needs is not started, and
a subprocess that runs over is killed with its whole process group (PyTorch's
compile workers too), so its pipes close and the script goes on.
"""
from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Budget:
    """Seconds until ``deadline`` (``time.monotonic()``); ``within(cap)`` is a part of it."""

    deadline: float

    @classmethod
    def of(cls, seconds: float) -> Budget:
        return cls(time.monotonic() + seconds)

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def within(self, cap: float) -> Budget:
        """The budget of a step that may take at most ``cap`` seconds of this one."""
        return Budget(min(self.deadline, time.monotonic() + cap))

    def allows(self, need: float) -> bool:
        return self.left() >= need


@dataclasses.dataclass
class Completed:
    """What a subprocess did: exit status (None when killed at its timeout), output, seconds."""

    returncode: int | None
    output: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def last_json(self) -> dict | None:
        """The last line of stdout that is a JSON object (how the measurement scripts report)."""
        import json  # noqa: PLC0415

        for line in reversed(self.output.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def failure(self) -> str:
        """One line for a report cell: why there is no result."""
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s (budget)"
        tail = [ln for ln in self.output.splitlines() if ln.strip()]
        return f"exit {self.returncode}: {tail[-1][:200] if tail else 'no output'}"


def run_python(args, env, timeout: float, log: Path, log_mode: str = "a") -> Completed:
    """``python args...`` in the repository root with ``env`` added; stdout and stderr
    (interleaved) appended to ``log`` under a header naming the command and its outcome."""
    start = time.perf_counter()
    with subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            returncode = None
    done = Completed(returncode, output, time.perf_counter() - start)
    command = " ".join([*(f"{k}={v}" for k, v in env.items()), "python", *map(shlex.quote, args)])
    outcome = "killed at its timeout" if done.timed_out else f"exit {returncode}"
    with open(log, log_mode) as f:
        f.write(f"$ {command}\n# {outcome}, {done.seconds:.1f} s (timeout {timeout:.0f} s)\n{output}\n")
    return done
