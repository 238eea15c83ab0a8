"""Downloads that only ever leave a verified file in place.

``fetch`` streams a URL into a temporary file beside the destination, checks
its MD5 and/or SHA-256 sum and only then renames it into place, so a broken
or tampered download never looks like a finished one. Any URL that urllib
opens works, including ``file://`` URLs (used by the tests, offline).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from mftl.atomic import atomic_path

#: Zenodo serves the files of a record under this address.
ZENODO_FILE_URL = "https://zenodo.org/records/{record}/files/{filename}?download=1"

_CHUNK_BYTES = 1 << 20


class ChecksumError(ValueError):
    """A file whose checksum differs from the expected one."""


def zenodo_url(record: int | str, filename: str) -> str:
    """Download address of ``filename`` in Zenodo record ``record``."""
    return ZENODO_FILE_URL.format(record=record, filename=filename)


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of the whole file with a hashlib algorithm name ("md5", "sha256")."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def _expected_sums(md5: str | None, sha256: str | None) -> dict[str, str]:
    return {name: value.strip().lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}


def _check(path: Path, shown_as: Path, expected: dict[str, str]) -> None:
    for algorithm, want in expected.items():
        got = file_digest(path, algorithm)
        if got != want:
            raise ChecksumError(f"{shown_as}: {algorithm} checksum mismatch: expected {want}, got {got}")


def verify(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise ChecksumError unless the present file ``path`` has the given sum(s).

    At least one of ``md5``/``sha256`` is required; a missing file raises FileNotFoundError.
    """
    path = Path(path)
    expected = _expected_sums(md5, sha256)
    if not expected:
        raise ValueError(f"{path}: no checksum given to verify against")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file does not exist")
    _check(path, path, expected)


def fetch(
    url: str,
    dest: str | os.PathLike,
    md5: str | None = None,
    sha256: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    The data go to a temporary file in dest's folder; after the checksum(s)
    match it is renamed onto ``dest``. On a mismatch ChecksumError names the
    file, the expected and the actual sum, and the download leaves nothing
    behind (no temporary file, no ``dest``; a file that was already at
    ``dest`` is not touched). A ``dest`` that
    already exists with matching sums is not downloaded again; without sums
    it is downloaded again.
    """
    dest = Path(dest)
    expected = _expected_sums(md5, sha256)
    if expected and dest.is_file():
        try:
            _check(dest, dest, expected)
            return dest
        except ChecksumError:
            pass  # a stale or partial copy: download afresh
    request = urllib.request.Request(url, headers={"User-Agent": "mftl-sources"})
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(request, timeout=timeout_s) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, _CHUNK_BYTES)
        _check(tmp, dest, expected)
    return dest
