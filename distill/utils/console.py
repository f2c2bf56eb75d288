"""A clean console, the whole story in ``cli.log``.

Hydra's job logging (``conf/hydra/default.yaml``) sends every record to two handlers:

* the file ``<run dir>/cli.log`` gets everything, library messages included, in the long format;
* the console gets, through :class:`ConsoleFilter`, our own messages (loggers ``distill.*``) from
  INFO up and other libraries' from WARNING up, except the known-benign ones listed in
  :data:`BENIGN` (tips, a progress-logging interval longer than a tiny epoch, deprecations inside
  a library that we cannot fix), formatted short by :class:`ConsoleFormatter`.

:func:`route_library_output` (called once by the console scripts) makes the libraries that print
on their own go through logging instead: Python ``warnings`` (``py.warnings``), ``transformers``
(its own stderr handler and its weight-loading bars are turned off), ``datasets`` (its per-map
bars), and W&B's console banner (``WANDB_SILENT``; the run's folder is printed at the end). Our own
progress bars (labelling, training) still draw.
"""

from __future__ import annotations

import logging
import os
import re

#: ``(logger name prefix, message regex)`` pairs the console leaves out (the file keeps them).
BENIGN: tuple[tuple[str, str], ...] = (
    ("py.warnings", r"isinstance\(treespec, LeafSpec\)` is deprecated"),
    ("py.warnings", r"is smaller than the logging interval"),
    ("py.warnings", r"does not have many workers which may be a bottleneck"),
    ("py.warnings", r"The '(train|val|test|predict)_dataloader' does not have many workers"),
    ("py.warnings", r"Checkpoint directory .* exists and is not empty"),
    ("py.warnings", r"Found \d+ module\(s\) in eval mode at the start of training"),
    ("py.warnings", r"`torch\.cuda\.amp\.|GradScaler is enabled, but CUDA is not available"),
    ("pytorch_lightning", r"litlogger|Tip:"),
    ("lightning", r"litlogger|Tip:"),
    ("transformers", r"Token indices sequence length is longer than the specified maximum"),
)
_BENIGN = tuple((prefix, re.compile(pattern)) for prefix, pattern in BENIGN)
OURS = "distill"
#: ``log.info(..., extra=FILE_ONLY)``: a detail for ``cli.log`` only (e.g. each model resolution,
#: each inference pass's throughput).
FILE_ONLY = {"console": False}


def is_ours(name: str) -> bool:
    return name == OURS or name.startswith(OURS + ".")


def is_benign(record: logging.LogRecord) -> bool:
    """A message from :data:`BENIGN` (below ERROR): left out of the console."""
    if record.levelno >= logging.ERROR:
        return False
    message = record.getMessage()
    return any(
        (record.name == prefix or record.name.startswith(prefix + ".")) and pattern.search(message)
        for prefix, pattern in _BENIGN
    )


class ConsoleFilter(logging.Filter):
    """Our INFO lines and others' warnings, without the known-benign ones (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "console", True) is False and record.levelno < logging.WARNING:
            return False
        if is_ours(record.name):
            return record.levelno >= logging.INFO
        return record.levelno >= logging.WARNING and not is_benign(record)


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS message``; warnings and errors say their level, other libraries their name."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        where = "" if is_ours(record.name) else f"[{record.name.split('.')[0]}] "
        level = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        return f"{self.formatTime(record, self.datefmt)} {level}{where}{message}"


def route_library_output() -> None:
    """Send what libraries print on their own through logging (see the module doc). Idempotent."""
    logging.captureWarnings(True)
    os.environ.setdefault("WANDB_SILENT", "true")
    from datasets.utils import logging as ds_logging
    from transformers.utils import logging as hf_logging

    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()
    ds_logging.disable_progress_bar()
    logging.getLogger("datasets").propagate = True
