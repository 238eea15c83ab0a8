"""Job logs that show what matters: known harmless third-party warnings filtered, two mace lines explained.

Every ``mftl`` process (``mftl.cli.main``) and, through ``PYTHONWARNINGS``, the processes it starts
(``mace_eval_configs``) drop the warnings listed in :data:`HARMLESS_WARNINGS`: hundreds of TorchScript
``UserWarning`` lines per training, torch's note on ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` (mace-torch
0.3.16 loads its own checkpoints and models, which are trusted files, without ``weights_only``) and
``pin_memory`` without an accelerator (CPU runs). Two mace log lines that look alarming are kept and
explained (:data:`EXPLAINED`). ``MFTL_DEBUG_WARNINGS=1`` keeps everything as it was.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

#: environment variable that keeps every third-party warning (debugging)
DEBUG_ENV = "MFTL_DEBUG_WARNINGS"

#: (category, start of the message) of warnings that never mean a problem in mftl's jobs
HARMLESS_WARNINGS = (
    (UserWarning, "The TorchScript type system doesn't support instance-level annotations"),
    (UserWarning, "Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected"),
    (UserWarning, "'pin_memory' argument is set as true but no accelerator is found"),
)

#: start of a mace log message -> why it is harmless in an mftl run (appended to the line)
EXPLAINED = {
    "Cannot find checkpoint with tag": (
        "mftl: harmless, mftl passes --restart_latest so that a killed run resumes; a new run has no checkpoint yet"
    ),
    "No SWA checkpoint found, while SWA is enabled": (
        "mftl: harmless, SWA is off; mace-torch 0.3.16 looks for an SWA checkpoint first whenever it restarts "
        "from one (--restart_latest), then loads the plain checkpoint"
    ),
}


class ExplainMaceLines(logging.Filter):
    """Appends the explanation of :data:`EXPLAINED` to a mace log record it knows."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        for start, why in EXPLAINED.items():
            if message.startswith(start) and why not in message:
                record.msg = f"{message} ({why})"
        return True


def quiet_known_warnings() -> None:
    """Install the filters of the module docstring in this process (and, by environment, its children)."""
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        return
    specs = []
    for category, start in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(start), category=category)
        specs.append(f"ignore:{start}:{category.__name__}")
    inherited = [spec for spec in os.environ.get("PYTHONWARNINGS", "").split(",") if spec]
    os.environ["PYTHONWARNINGS"] = ",".join(inherited + [spec for spec in specs if spec not in inherited])
    root = logging.getLogger()
    if not any(isinstance(f, ExplainMaceLines) for f in root.filters):
        root.addFilter(ExplainMaceLines())
