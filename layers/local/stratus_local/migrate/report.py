"""What a migration copied, skipped and refused, and a one-line progress bar on stderr while it runs."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

KINDS = ("experiments", "runs", "logged models", "registered models", "model versions")


@dataclass
class Summary:
    """Counts per kind of record (see ``KINDS``), plus one line per refusal saying what and why."""

    copied: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifact_files: int = 0
    artifact_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_copied(self, kind: str) -> None:
        with self._lock:
            self.copied[kind] += 1

    def count_skipped(self, kind: str) -> None:
        """An item the destination already holds from an earlier run of the tool."""
        with self._lock:
            self.skipped[kind] += 1

    def refuse(self, kind: str, what: str, reason: str) -> None:
        with self._lock:
            self.refusals.append(f"{kind} {what}: {reason}")

    def note(self, kind: str, what: str, remark: str) -> None:
        """Copied, but not all of it: says what is missing and why."""
        with self._lock:
            self.notes.append(f"{kind} {what}: {remark}")

    def count_artifacts(self, files: int, size: int) -> None:
        with self._lock:
            self.artifact_files += files
            self.artifact_bytes += size

    def render(self) -> str:
        lines = [f"{'':18}{'copied':>8}{'already there':>15}"]
        lines += [f"{kind:18}{self.copied[kind]:>8}{self.skipped[kind]:>15}" for kind in KINDS]
        lines.append(f"artifacts copied: {self.artifact_files} files, {self.artifact_bytes} bytes")
        lines.append(f"copied in part: {len(self.notes)}")
        lines += [f"  {line}" for line in sorted(self.notes)]
        lines.append(f"refused: {len(self.refusals)}")
        lines += [f"  {line}" for line in sorted(self.refusals)]
        return "\n".join(lines)


class Progress:
    """``label [#####.....] done/total`` rewritten in place; silent when ``stream`` is None."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None = sys.stderr) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._label = ""
        self._done = 0
        self._total = 0

    def start(self, label: str, total: int) -> None:
        with self._lock:
            self._label, self._done, self._total = label, 0, total
            self._draw()

    def advance(self) -> None:
        with self._lock:
            self._done += 1
            self._draw()

    def finish(self) -> None:
        if self._stream is not None and self._total:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        if self._stream is None or not self._total:
            return
        filled = self.WIDTH * self._done // self._total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r{self._label:18} [{bar}] {self._done}/{self._total}")
        self._stream.flush()
