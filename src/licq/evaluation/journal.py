"""A per-image journal for long evaluations, so an interrupted ``licq eval`` resumes where it stopped.

An ``--effort 3`` curve over Kodak codes 96 images at about two minutes each on
one thread of a 2-core CPU: hours, longer than many machines stay up. :func:`licq.evaluation.rd.evaluate`
appends each finished image's row to ``<out>.partial.jsonl`` as one JSON line;
``licq eval --resume`` reads them back and codes only what is missing. A row is
reused only under the same key: the rate point's settings, the image's name and
bytes, the weights it names and the licq version. A line cut short by a kill
is skipped, and its image coded again.

Rows also carry their image's digest and weights fingerprint, so ``--resume`` reuses the rows of
an earlier results file at the same ``--out`` under the same rule (:meth:`Journal.adopt`): after
one zoo model is replaced, a rerun of a whole-zoo curve codes only that model's images.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import __version__
from ..errors import LicqError


def journal_path(out: str | Path) -> Path:
    """Where the rows of a run writing ``out`` are kept until the results file is written."""
    out = Path(out)
    return out.with_name(out.name + ".partial.jsonl")


def file_digest(path: Path) -> str:
    """First 16 hex digits of the file's sha256, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def weights_fingerprint(point: dict) -> str:
    """What decides the weights a point codes with: a weight file's digest, or the manifest entries
    (each with its file's sha256) of the zoo model it names and of the finetuned decoder it codes
    with (:func:`licq.zoo.selected_decoder`, as ``licq encode`` picks it).

    Replacing one zoo model thus invalidates only that model's rows, and replacing one of its
    decoders only the rows that could decode with it. (A running process keeps the weights it
    loaded, under the fingerprint taken when the point began.)
    """
    model = point.get("model")
    if model and Path(model).is_file():
        return file_digest(Path(model))
    from ..zoo import manifest, selected_decoder

    man = manifest()
    if model:
        name = model
    elif point.get("quality") is not None:
        name = next((m["name"] for m in man["models"]
                     if m.get("quality") == point["quality"] and "base" not in m), None)
    else:
        name = man["default"]
    decoder = name and selected_decoder(name, point.get("quantizer") or "sq", point.get("states"),
                                        point.get("finetuned"), point.get("quality"))
    related = [m for m in man["models"] if m["name"] in (name, decoder)] or man
    return hashlib.sha256(json.dumps(related, sort_keys=True).encode()).hexdigest()[:16]


def row_key(point: dict, image_name: str, image_digest: str, weights: str) -> str:
    """The identity of one coded image: same key, same row (up to timings)."""
    return json.dumps({"point": point, "image": image_name, "bytes": image_digest,
                       "weights": weights, "licq": __version__}, sort_keys=True)


class Journal:
    """Rows of finished images, appended one JSON line each and flushed to disk at once."""

    def __init__(self, path: str | Path, resume: bool):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        if resume and self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.rows[rec["key"]] = rec["row"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut short by a kill: that image is coded again
        try:
            self._f = open(self.path, "a" if resume else "w", encoding="utf-8")
        except OSError as exc:
            raise LicqError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def adopt(self, results: dict) -> str | None:
        """Offer the rows of an earlier results file for reuse.

        Only rows written with their ``image_digest`` and ``weights_digest`` (licq eval with a
        journal does) by the same licq version can be keyed; others are ignored and coded again.
        Returns why a whole file of another release is passed over (a long rerun codes every row),
        else None.
        """
        if not isinstance(results, dict):
            return None
        if results.get("licq_version") != __version__:
            return (f"written by licq {results.get('licq_version')}, so none of its rows is reused: "
                    f"a row is reused only by the release that coded it (this is licq {__version__})")
        settings = results.get("settings")
        if not isinstance(settings, list) or not settings or not all(isinstance(p, dict) for p in settings):
            return None
        for row in results.get("per_image") or []:
            try:
                point = {k: row[k] for k in settings[0]}
                if point not in settings:
                    continue
                key = row_key(point, row["image"], row["image_digest"], row["weights_digest"])
            except (KeyError, TypeError):
                continue
            self.rows.setdefault(key, row)
        return None

    def get(self, key: str) -> dict | None:
        return self.rows.get(key)

    def add(self, key: str, row: dict) -> None:
        self._f.write(json.dumps({"key": key, "row": row}) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self, remove: bool) -> None:
        """Close; ``remove`` once the results file holds every row (an empty journal goes too)."""
        self._f.close()
        if remove or self.path.stat().st_size == 0:
            self.path.unlink(missing_ok=True)
