"""Bad settings through the console scripts: one line naming the key, before anything is trained."""

from __future__ import annotations

import pytest

from tests.bad_inputs.conftest import Runner


def test_unknown_group_option_is_hydras_short_message(run_cli: Runner) -> None:
    """Hydra's own config error: exit 1, the group and its options named, no traceback."""
    result = run_cli("distill-train", "student=nope")
    assert result.code == 1
    assert "Traceback" not in result.out + result.err
    assert "Could not find 'student/nope'" in result.err
    assert "Available options in 'student'" in result.err and "tiny" in result.err
    result.assert_nothing_written()


@pytest.mark.parametrize(
    ("script", "override", "message"),
    [
        ("distill-run", "cycle.rounds=two", "cycle.rounds must be an integer >= 1, got 'two'"),
        ("distill-train", "loss.weights.kd=fast", "loss.weights.kd must be a number, got 'fast'"),
        ("distill-run", "loss.temperature=0", "loss.temperature must be > 0, got 0"),
        ("distill-train", "loss.temperature=-1.5", "loss.temperature must be > 0, got -1.5"),
        ("distill-run", "loss.weights.back=-0.5", "loss.weights.back must be a finite number >= 0, got -0.5"),
        (
            "distill-run",
            "data.target_langs=[xx1]",
            "data.target_langs: 'xx1' is not an ISO 639 language code",
        ),
        ("distill-run", "trainer.max_epochs=abc", "trainer.max_epochs must be a positive integer, got 'abc'"),
        (
            "distill-train",
            "data.target_langs=[it,it]",
            "data.target_langs=['it', 'it'] names a language twice",
        ),
        (
            "distill-run",
            "data.common_sources=[en,xx1]",
            "data.common_sources: 'xx1' is not an ISO 639 language code",
        ),
        ("distill-run", "data.common_sources=en", "data.common_sources='en' is not a list of language codes"),
    ],
    ids=[
        "rounds-type",
        "weight-type",
        "temperature-0",
        "temperature-neg",
        "weight-neg",
        "lang",
        "epochs-type",
        "lang-twice",
        "common-sources-lang",
        "common-sources-type",
    ],
)
def test_bad_setting(run_cli: Runner, script: str, override: str, message: str) -> None:
    key = override.split("=")[0]
    result = run_cli(script, override)
    result.assert_clean_error(message, key)


@pytest.mark.parametrize("script", ["distill-eval", "distill-export"])
def test_missing_checkpoint_key(run_cli: Runner, script: str) -> None:
    result = run_cli(script)
    result.assert_clean_error(f"{script} needs the student", "checkpoint=")


def test_mandatory_key_without_a_value(run_cli: Runner) -> None:
    """``data=files`` declares ``target_langs: ???``: named before anything runs."""
    result = run_cli("distill-run", "data=files", "data.parallel=en_it.tsv")
    result.assert_clean_error("config key data.target_langs has no value", "data.target_langs=[it]")


@pytest.mark.parametrize("script", ["distill-label", "distill-train", "distill-eval"])
def test_a_one_stage_app_refuses_a_task_that_runs_whole(run_cli: Runner, script: str) -> None:
    result = run_cli(script, "task=embedding")
    result.assert_clean_error(f"{script} runs one stage of task=classification", "distill-run task=embedding")


def test_an_unknown_task_is_named_with_the_registered_ones(run_cli: Runner) -> None:
    result = run_cli("distill-run", "task=ner")
    result.assert_clean_error("task='ner' names no registered task", "+tasks.ner._target_=")
