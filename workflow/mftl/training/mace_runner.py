"""Running mace-torch's console scripts (``mace_run_train``, ``mace_eval_configs``) in this process, on the
device :func:`resolve_device` picks, and ending a training when mace says its patience is exceeded."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


#: what mace-torch logs when the validation loss has not improved for ``patience`` evaluations
PATIENCE_MESSAGE = "Stopping optimization after"


class _PatienceExceeded(Exception):
    """mace said patience is exceeded; the run is ended there (see :class:`_EndOnPatience`)."""


class _EndOnPatience(logging.Handler):
    """Early stopping that stops: end ``mace_run_train`` when it logs that patience is exceeded.

    mace-torch 0.3.16 logs "Stopping optimization after N epochs without improvement"
    and then trains on to ``max_num_epochs`` unless it runs distributed
    (ACEsuit/mace#1384; fix proposed in PR #1502, not released). The message goes to
    mace's own handlers first, then the run is ended; :func:`mftl.training.steps.train` lets mace write
    the final model from its best checkpoint, as an early-stopped run does.
    """

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(PATIENCE_MESSAGE) or "Stage Two" in message:
            return
        for handler in logging.getLogger().handlers:
            if handler is not self and record.levelno >= handler.level:
                handler.handle(record)
        raise _PatienceExceeded(message)


def run_mace(cmd: list[str], cwd: Path, threads: int) -> bool:
    """Run the console script ``cmd`` (``mace_run_train``, ``mace_eval_configs``) in this process.

    Exactly what the installed script runs (its entry point, with ``cmd`` as its
    argv), in ``cwd``, but without a second Python start and import of torch, e3nn
    and mace (~5 s here, as long as a small demo fine-tuning). What the script
    changes in the process (working folder, logging handlers, torch's default
    dtype and threads, ``sys.argv``) is put back afterwards. The logged command
    line runs the same step by hand. Returns whether the run was ended early
    because mace's patience was exceeded (see :class:`_EndOnPatience`).
    """
    from importlib.metadata import entry_points

    scripts = entry_points(group="console_scripts", name=cmd[0])
    if not scripts:
        raise RuntimeError(f"{cmd[0]}: no such console script installed (is mace-torch installed?)")
    main = next(iter(scripts)).load()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    print("+ " + " ".join(cmd), flush=True)
    root = logging.getLogger()
    saved = (
        list(root.handlers),
        list(root.filters),
        root.level,
        torch.get_default_dtype(),
        torch.get_num_threads(),
        list(sys.argv),
        os.getcwd(),
    )
    torch.set_num_threads(threads)
    os.chdir(cwd)
    sys.argv = list(cmd)
    root.addHandler(_EndOnPatience())
    try:
        main()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise RuntimeError(f"{cmd[0]} failed with exit code {stop.code} (see the log above)") from stop
    except _PatienceExceeded:
        return True
    finally:
        handlers, filters, level, dtype, n_threads, argv, cwd_before = saved
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers, root.filters = handlers, filters
        root.setLevel(level)
        torch.set_default_dtype(dtype)
        torch.set_num_threads(n_threads)
        sys.argv = argv
        os.chdir(cwd_before)
        sys.stdout.flush()
    return False
