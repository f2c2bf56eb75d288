"""Bad token-level files (``data=token_files``) through ``distill-run``: one ``error:`` line naming
the file and the line, before any teacher is trained."""

from __future__ import annotations

from pathlib import Path

from tests.bad_inputs.conftest import Runner


def test_unknown_tag_in_a_target_test_file(run_cli: Runner, tmp_path: Path) -> None:
    source = tmp_path / "en.conll"
    source.write_text("Maria B-PER\nlives O\n\nRome B-LOC\nis O\nbig O\n")
    words = tmp_path / "it_words.txt"
    words.write_text("Maria\nvive\n\nRoma\n")
    test = tmp_path / "it_test.conll"
    test.write_text("Maria B-PER\n\nFiat B-ORG\nchiude O\n")
    result = run_cli(
        "distill-run",
        "task=token_classification",
        "loss=kd",
        "mode=direct",
        "data=token_files",
        "data.target_langs=[it]",
        f"data.source_train={source}",
        f"data.source_test={source}",
        f"+data.target_train.it={words}",
        f"+data.target_test.it={test}",
    )
    result.assert_clean_error(f"{test} line 3: unknown tag 'B-ORG'", "the tag set is")


def test_the_token_task_on_a_sentence_corpus_names_the_experiment_to_use(run_cli: Runner) -> None:
    result = run_cli("distill-run", "debug=tiny", "task=token_classification")
    result.assert_clean_error("data=chatterbot has no token-level corpus", "experiment=token_toy")


def test_back_in_direct_mode_is_refused_before_the_teacher_trains(run_cli: Runner) -> None:
    result = run_cli(
        "distill-run", "experiment=token_toy", "debug=tiny", "mode=direct", "loss.weights.back=0.5"
    )
    result.assert_clean_error("loss.weights.back > 0 reads the source words of pairs", "mode=parallel")
