"""Foundation models: named MACE models fetched once, and checks on what fine-tuning did.

A named foundation (``small_off``, ``medium``, ...) is the file mace-torch itself
would download; ``fetch_named`` copies it from mace's cache when it is there and
downloads it otherwise, with an error that says what to do when there is no
network. A foundation can also be a local file or a model this campaign trains
(see ``foundations`` in config/README.md). Besides fine-tuning, a foundation is
evaluated as it is on a dataset's test set (zero-shot, :func:`mftl.evaluation.jobs.zeroshot`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mftl.atomic import atomic_path

#: mace_run_train's names of the MACE-OFF23 models -> keys of mace's own URL table
MACE_OFF_NAMES = {"small_off": "small", "medium_off": "medium", "large_off": "large"}


class FoundationUnavailable(RuntimeError):
    """A named foundation model that is neither cached nor downloadable."""


def named_url(name: str) -> str:
    """Download address mace-torch uses for a named foundation model."""
    from mace.calculators.foundations_models import mace_mp_urls, mace_off_urls

    if name in MACE_OFF_NAMES:
        return mace_off_urls[MACE_OFF_NAMES[name]]
    if name in mace_mp_urls:
        return mace_mp_urls[name]
    known = sorted(MACE_OFF_NAMES) + sorted(mace_mp_urls)
    raise ValueError(f"unknown foundation model '{name}' (known: {', '.join(known)})")


def mace_cache_path(name: str) -> Path:
    """Where mace-torch keeps a downloaded named model."""
    from mace.tools.utils import get_cache_dir

    return Path(get_cache_dir()) / Path(named_url(name)).name


def fetch_named(name: str, out: Path, timeout_s: float = 60.0) -> Path:
    """Write the named foundation model to ``out`` (from mace's cache, else downloaded)."""
    from mftl.data.sources.download import fetch

    url = named_url(name)
    cached = mace_cache_path(name)
    if cached.is_file():
        with atomic_path(out) as tmp:
            shutil.copyfile(cached, tmp)
        return out
    try:
        return fetch(url, out, timeout_s=timeout_s)
    except OSError as err:  # URLError, timeouts, DNS failures
        raise FoundationUnavailable(
            f"cannot download foundation model '{name}' from {url}: {err}. Without network, copy the file "
            f"to {cached} (mace's cache) or {out}, or declare the foundation with 'file:' in the config."
        ) from err


def model_heads(model_path: Path) -> list[str]:
    """Names of the output heads of a MACE model file (one head unless multi-head trained)."""
    import torch

    model = torch.load(model_path, map_location="cpu", weights_only=False)
    return [str(h) for h in getattr(model, "heads", ["Default"])]


def model_dtype(model_path: Path) -> str:
    """``float32`` or ``float64``: the dtype a MACE model file's weights are stored in."""
    import torch

    model = torch.load(model_path, map_location="cpu", weights_only=False)
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def check_multihead(model_path: Path, log_text: str) -> list[str]:
    """The heads of a model that was asked to be multi-head fine-tuned; raise if it is not.

    mace-torch falls back to naive fine-tuning, with only a log warning, when the
    foundation is not a Materials Project model and no replay file was given; a
    result of that run must not be reported as multi-head.
    """
    heads = model_heads(model_path)
    if len(heads) < 2 or "pt_head" not in heads or "Using multiheads finetuning mode" not in log_text:
        raise RuntimeError(
            f"{model_path}: multi-head fine-tuning was requested but mace trained heads {heads} "
            "(it falls back to naive fine-tuning without replay data); not reporting it as multi-head"
        )
    return heads
