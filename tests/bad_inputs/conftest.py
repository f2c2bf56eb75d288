"""Run the console scripts in-process (Hydra apps called with a patched ``sys.argv``) and check errors.

Hydra can be invoked many times in one process: ``@hydra.main`` clears its global state after each
run. Every case gets its own run folder; the shared cache (the tiny model and the tiny teacher,
built once) is one per session, and each case checks that it added nothing half-written to it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytorch_lightning  # noqa: F401
import transformers  # noqa: F401

from distill import cli

# Imported above, outside any test: Lightning and transformers give their loggers a stream handler
# bound to the sys.stderr of the moment, which inside a test is that test's capsys stream; a later
# test logging through it would print a "Logging error" traceback into its own captured output.

TINY = "xlt-distill/tiny-random-bert"
# Cache folders a failed run may still fill legitimately: converted models and the fine-tuned
# teacher are complete, reusable results of stages that succeeded before the bad input was met.
REUSABLE = ("models", "teachers", "file_hashes")
SCRIPTS = {
    "distill-run": cli.run_main,
    "distill-teacher": cli.teacher_main,
    "distill-label": cli.label_main,
    "distill-train": cli.train_main,
    "distill-eval": cli.eval_main,
    "distill-export": cli.export_main,
}


@dataclass
class Outcome:
    """What a console script did: its exit status and output, and where it ran."""

    code: int
    out: str
    err: str
    run_dir: Path
    cache: Path
    new_in_cache: list[str]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error: ")]

    def assert_clean_error(self, *names: str, complete: tuple[str, ...] = ()) -> str:
        """Exit 2, one ``error:`` line naming ``names`` with a fix, no traceback, nothing half-written.

        Args:
            names: Substrings the error line must hold (file, line, key).
            complete: Outputs of stages that finished before the bad input was met (run-folder
                files such as ``teacher.json``, cache kinds such as ``soft_labels``): allowed.

        Returns:
            The error line.
        """
        assert self.code == 2, f"exit {self.code}\n{self.err[-3000:]}"
        assert "Traceback" not in self.out + self.err
        assert len(self.errors) == 1, self.errors
        (line,) = self.errors
        assert "(fix: " in line, line
        for name in names:
            assert name in line, f"{name!r} not in {line!r}"
        self.assert_nothing_written(complete)
        return line

    def assert_nothing_written(self, complete: tuple[str, ...] = ()) -> None:
        """No ``.tmp-*`` anywhere, no outputs in the run folder, no new soft labels or translations."""
        leftovers = [p for root in (self.run_dir, self.cache) for p in _tmp_entries(root)]
        assert leftovers == [], leftovers
        if self.run_dir.exists():
            outputs = [
                p.name
                for p in self.run_dir.iterdir()
                if p.name != ".hydra" and p.suffix != ".log" and p.name not in complete
            ]
            assert outputs == [], outputs
        # files/: memory-mapped copies of the input files that were read fine (reused on the next read).
        new = [e for e in self.new_in_cache if e.split("/")[0] not in (*complete, "files")]
        assert new == [], new


def _tmp_entries(root: Path) -> list[Path]:
    return (
        [p for p in root.rglob("*") if ".tmp-" in p.name or p.name.startswith(".tmp")]
        if root.exists()
        else []
    )


def _cache_entries(cache: Path) -> set[str]:
    if not cache.exists():
        return set()
    return {
        f"{kind.name}/{entry.name}" for kind in cache.iterdir() if kind.is_dir() for entry in kind.iterdir()
    }


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every case: the tiny model is converted and the tiny teacher trained once."""
    return tmp_path_factory.mktemp("bad-inputs-cache")


Runner = Callable[..., Outcome]


@pytest.fixture
def run_cli(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Runner:
    """``run_cli("distill-run", "data=files", ...)``: the console script in-process, on ``debug=tiny``."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("DISTILL_DEBUG", raising=False)
    monkeypatch.setenv("DISTILL_CACHE", str(shared_cache))  # restored after the test (the app sets it)
    monkeypatch.chdir(tmp_path)
    runs = iter(range(1000))

    def run(script: str, *args: str, tiny: bool = True) -> Outcome:
        run_dir = tmp_path / f"run{next(runs)}"
        base = ("debug=tiny", "logger=none", "trainer.max_epochs=1", "trainer.enable_progress_bar=false")
        argv = [
            script,
            *(base if tiny else ()),
            f"hydra.run.dir={run_dir}",
            f"paths.cache_dir={shared_cache}",
            *args,
        ]
        before = _cache_entries(shared_cache)
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", argv)
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            SCRIPTS[script]()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            # Hydra points the root logger at this test's captured streams and its run folder:
            # put the handlers back, so later tests never log into a closed stream.
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        new = sorted(e for e in _cache_entries(shared_cache) - before if not e.startswith(REUSABLE))
        return Outcome(code, out, err, run_dir, shared_cache, new)

    return run


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good en-it parallel file (60 pairs, with topic labels)."""
    rows = [
        {"src": f"hello number {i}", "tgt": f"ciao numero {i}", "label": ("greetings", "ai")[i % 2]}
        for i in range(60)
    ]
    return write_jsonl(tmp_path_factory.mktemp("pairs") / "en_it.jsonl", rows)


@pytest.fixture(scope="session")
def classifier_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[str]], Path]:
    """A ready tiny classifier folder with the given labels (built once per label set)."""
    made: dict[tuple[str, ...], Path] = {}

    def make(labels: list[str]) -> Path:
        key = tuple(labels)
        if key not in made:
            from distill.models.classifier import load_classifier

            folder = tmp_path_factory.mktemp("classifier") / "-".join(labels)
            model, tokenizer = load_classifier(TINY, labels)
            model.save_pretrained(str(folder))
            tokenizer.save_pretrained(str(folder))
            made[key] = folder
        return made[key]

    return make
