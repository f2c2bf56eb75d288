"""The console shows our lines and real warnings; cli.log keeps everything (distill/utils/console.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from distill.utils.console import FILE_ONLY, ConsoleFilter, ConsoleFormatter


def _record(name: str, level: int, msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize(
    ("name", "level", "msg", "shown"),
    [
        ("distill.records", logging.INFO, "stage prepare: start", True),
        ("distill.records", logging.DEBUG, "detail", False),
        ("pytorch_lightning.utilities.rank_zero", logging.INFO, "GPU available: False, used: False", False),
        ("pytorch_lightning.utilities.rank_zero", logging.INFO, "Tip: try installing litlogger", False),
        ("pytorch_lightning.utilities.rank_zero", logging.WARNING, "Tip: try installing litlogger", False),
        (
            "py.warnings",
            logging.WARNING,
            "_pytree.py:21: `isinstance(treespec, LeafSpec)` is deprecated",
            False,
        ),
        ("py.warnings", logging.WARNING, "something a user should see", True),
        ("transformers.modeling_utils", logging.WARNING, "a real loading problem", True),
        (
            "transformers.tokenization_utils_base",
            logging.WARNING,
            "Token indices sequence length is longer than the specified maximum sequence length",
            False,
        ),
        ("anything", logging.ERROR, "Tip: an error is always shown", True),
    ],
)
def test_console_filter(name: str, level: int, msg: str, shown: bool) -> None:
    assert ConsoleFilter().filter(_record(name, level, msg)) is shown


def test_file_only_details_stay_off_the_console_unless_they_are_warnings() -> None:
    assert ConsoleFilter().filter(_record("distill.models", logging.INFO, "x", **FILE_ONLY)) is False
    assert ConsoleFilter().filter(_record("distill.models", logging.WARNING, "x", **FILE_ONLY)) is True


def test_console_format_is_short_and_names_other_libraries() -> None:
    fmt = ConsoleFormatter()
    ours = fmt.format(_record("distill.records", logging.INFO, "stage label: 3.0 s"))
    assert ours.endswith(" stage label: 3.0 s") and len(ours) == len("00:00:00 stage label: 3.0 s")
    theirs = fmt.format(_record("transformers.modeling_utils", logging.WARNING, "odd weights"))
    assert theirs.endswith(" warning: [transformers] odd weights")


def test_a_new_head_logs_one_line_instead_of_the_load_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from distill.models.classifier import load_classifier
    from distill.models.tiny import build_tiny_encoder

    encoder = build_tiny_encoder(tmp_path / "encoder")  # a bare BertModel: no pooler-free head yet
    with caplog.at_level(logging.INFO):
        load_classifier(str(encoder), ["a", "b"])
    messages = [r.getMessage() for r in caplog.records]
    assert not any("LOAD REPORT" in m for m in messages)
    (line,) = [m for m in messages if "new classification head" in m]
    assert "classifier.weight" in line and "classifier.bias" in line
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "new head" in r.getMessage()]


def test_a_new_head_warns_about_weights_that_are_not_the_heads(caplog: pytest.LogCaptureFixture) -> None:
    from distill.models.classifier import new_head_report

    with caplog.at_level(logging.INFO), new_head_report("some/encoder") as report:
        logging.getLogger("transformers.modeling_utils").warning("X LOAD REPORT from: some/encoder")
        report.info = {"missing_keys": ["classifier.weight", "encoder.layer.0.attention.self.query.weight"]}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "some/encoder: loaded under a new head, but these weights are missing, unused or of another "
        "shape: encoder.layer.0.attention.self.query.weight"
    ]
