"""oned.log: ``<ctime> [Z<zone>][<MOD>][<I|E|W|D>]: <msg>``, filtered by LOG/DEBUG_LEVEL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

__all__ = ["ERROR", "WARNING", "INFO", "DEBUG", "OnedLog"]

ERROR, WARNING, INFO, DEBUG = 0, 1, 2, 3
_LETTERS = {ERROR: "E", WARNING: "W", INFO: "I", DEBUG: "D"}


def format_line(zone_id: int, module: str, level: int, message: str, now: float) -> str:
    return f"{time.ctime(now)} [Z{zone_id}][{module}][{_LETTERS[level]}]: {message}\n"


class OnedLog:
    """Appends lines to oned.log; safe to call from any thread."""

    def __init__(self, path: Path, zone_id: int = 0, debug_level: int = DEBUG):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.zone_id = zone_id
        self.debug_level = debug_level
        self._lock = threading.Lock()
        # surrogateescape: a call line may end in part of a UTF-8 sequence, as oned's does.
        self._file = open(  # noqa: SIM115 - kept open for the daemon's life
            self.path, "a", buffering=1, encoding="utf-8", errors="surrogateescape"
        )

    def log(self, module: str, level: int, message: str) -> None:
        if level > self.debug_level:
            return
        line = format_line(self.zone_id, module, level, message, time.time())
        with self._lock:
            if not self._file.closed:
                self._file.write(line)

    def info(self, module: str, message: str) -> None:
        self.log(module, INFO, message)

    def error(self, module: str, message: str) -> None:
        self.log(module, ERROR, message)

    def warning(self, module: str, message: str) -> None:
        self.log(module, WARNING, message)

    def debug(self, module: str, message: str) -> None:
        self.log(module, DEBUG, message)

    def write_raw(self, text: str) -> None:
        """Unprefixed text (the configuration banner oned prints at start)."""
        with self._lock:
            self._file.write(text)

    def close(self) -> None:
        with self._lock:
            self._file.close()
