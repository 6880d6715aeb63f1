"""The build cache: AQAA results by image content hash, made phantom studies, degraded test images.

Lives in `<out>/cache/`: `build-cache.sqlite` (written by the main process only, read by workers) and
PNG files written atomically by whoever makes them. A rerun, or a run resumed after an interruption,
finds every finished image there and recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

CACHE_DIRNAME = "cache"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS quality (key TEXT PRIMARY KEY, result TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, record TEXT NOT NULL)",
)


def content_hash(data: bytes) -> str:
    """Hex digest identifying an image file's content."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Writes a file so that readers never see a partial one (an interrupted run leaves no torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def agent_fingerprint(agent: Any) -> str:
    """Identifies an agent's behaviour (class, version, calibration) so cached results match it."""
    explicit = getattr(agent, "fingerprint", None)
    if callable(explicit):
        explicit = explicit()
    if isinstance(explicit, str) and explicit:
        return explicit
    parts: list[str] = [f"{type(agent).__module__}.{type(agent).__qualname__}"]
    module = __import__(type(agent).__module__, fromlist=["_"])
    parts.append(str(getattr(module, "AQAA_VERSION", getattr(module, "__version__", ""))))
    calibration = getattr(agent, "calibration", None)
    if calibration is not None:
        for method in ("to_dict", "to_json"):
            if hasattr(calibration, method):
                calibration = getattr(calibration, method)()
                break
        try:
            parts.append(json.dumps(calibration, sort_keys=True, default=str))
        except TypeError:
            parts.append(repr(calibration))
    judge = getattr(agent, "judge", None)
    parts.append(repr(getattr(judge, "name_or_path", judge)) if judge is not None else "no-judge")
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


class BuildCache:
    """AQAA results and made records, keyed by content; one writer (main process), many readers.

    Args:
        folder: the cache folder (created when missing).
        readonly: open for reading only (workers).
    """

    def __init__(self, folder: str | Path, readonly: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "build-cache.sqlite"
        self.readonly = readonly
        self._pending = 0
        if readonly:
            # Workers only read; a plain connection reads a WAL database safely while the main process writes.
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.commit()

    def image_path(self, kind: str, key: str) -> Path:
        """Where a made image (`phantoms`, `synthetic`) with this key lives."""
        return self.folder / kind / f"{key}.png"

    def get_quality(self, key: str) -> dict[str, Any] | None:
        """The cached AQAA result for `key` (fingerprint + content hash), or `None`."""
        row = self._db.execute("SELECT result FROM quality WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_record(self, key: str) -> dict[str, Any] | None:
        """The cached record dict of a made study, or `None`."""
        row = self._db.execute("SELECT record FROM records WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_quality(self, key: str, result: dict[str, Any]) -> None:
        """Stores an AQAA result (committed in batches; `commit()` flushes)."""
        self._db.execute("INSERT OR REPLACE INTO quality VALUES (?, ?)", (key, json.dumps(result)))
        self._tick()

    def put_record(self, key: str, record: dict[str, Any]) -> None:
        """Stores a made study's record."""
        self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?)", (key, json.dumps(record)))
        self._tick()

    def _tick(self) -> None:
        self._pending += 1
        if self._pending >= 64:
            self.commit()

    def commit(self) -> None:
        """Makes every stored result durable."""
        if self._pending:
            self._db.commit()
            self._pending = 0

    def count(self) -> int:
        """How many AQAA results the cache holds."""
        return int(self._db.execute("SELECT COUNT(*) FROM quality").fetchone()[0])

    def close(self) -> None:
        """Commits and closes."""
        if not self.readonly:
            self.commit()
        self._db.close()


__all__ = ["CACHE_DIRNAME", "BuildCache", "agent_fingerprint", "content_hash", "write_atomic"]
