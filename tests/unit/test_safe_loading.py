"""Nothing in the package unpickles a file, runs a model repository's code, or exports pickles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from distill.errors import DistillError
from distill.export import check_export_folder, export_student
from distill.models.classifier import load_classifier
from distill.models.tiny import build_tiny_encoder

PACKAGE = Path(__file__).resolve().parents[2] / "distill"
UNPICKLERS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("dill", "load"),
    ("dill", "loads"),
    ("joblib", "load"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
}


def _name(node: ast.expr) -> tuple[str, str] | None:
    """``module.attr`` of a call target such as ``torch.load`` (``None`` for anything else)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str) -> list[str]:
    """The unsafe loading calls in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in {"pickle", "dill", "cloudpickle"}:
            found.append(f"{node.lineno}: from {node.module} import ...")
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name == ("torch", "load") and not _true(_kw(node, "weights_only")):
            found.append(f"{node.lineno}: torch.load without weights_only=True")
        if name in UNPICKLERS:
            found.append(f"{node.lineno}: {'.'.join(name)}")
        if name in {("np", "load"), ("numpy", "load")} and _true(_kw(node, "allow_pickle")):
            found.append(f"{node.lineno}: numpy.load(allow_pickle=True)")
        if _true(_kw(node, "trust_remote_code")):
            found.append(f"{node.lineno}: trust_remote_code=True")
    return found


def test_the_scanner_finds_unsafe_calls() -> None:
    source = (
        "import pickle, torch, numpy as np\n"
        "torch.load(p)\n"
        "torch.load(p, weights_only=False)\n"
        "torch.load(p, weights_only=True)\n"
        "pickle.loads(b)\n"
        "np.load(p, allow_pickle=True)\n"
        "AutoModel.from_pretrained(x, trust_remote_code=True)\n"
        "from pickle import load\n"
    )
    assert sorted(int(f.split(":")[0]) for f in unsafe_calls(source)) == [2, 3, 5, 6, 7, 8]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_package_loads_nothing_unsafely(path: Path) -> None:
    assert unsafe_calls(path.read_text(encoding="utf-8")) == []


def test_export_is_safetensors_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model, tokenizer = load_classifier(str(build_tiny_encoder(tmp_path / "encoder")), ["a", "b"])
    folder = export_student(
        model,
        tokenizer,
        tmp_path / "student",
        base_model="b",
        teacher="t",
        languages=["en", "it"],
        command="c",
    )
    check_export_folder(folder)  # what export_student ran before renaming the folder into place
    weights = {
        p.name for p in folder.iterdir() if p.suffix in {".safetensors", ".bin", ".pt", ".pth", ".ckpt"}
    }
    assert weights == {"model.safetensors"}
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(DistillError, match="pickle"):
        check_export_folder(folder)
