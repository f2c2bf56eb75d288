"""A tiny randomly initialised BERT and tokenizer, built from a config: no download, milliseconds.

Used by unit tests and ``debug=tiny`` runs so that the whole pipeline can be exercised quickly. The
tokenizer is a real WordPiece tokenizer over a small multilingual word list, so texts in any
script tokenise (unknown words fall back to characters or ``[UNK]``).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

from distill.utils.atomic import atomic_dir
from distill.utils.paths import cache_dir

TINY_VERSION = 1
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORDS = (
    "the a an is are was were be i you he she it we they what how why who where when do does "
    "not no yes my your like love hate good bad money movie book music food science ai robot "
    "computer history sport health emotion joke trivia politics greeting conversation "
    "il la di che non sono io tu bene male ciao grazie libro film "
    "el los las es yo muy bien gracias "
    "der die das und ich nicht ja nein "
    "o os um uma eu você obrigado"
).split()


def _vocab() -> list[str]:
    chars = list(string.ascii_lowercase + string.digits + string.punctuation + "àèéìòùáíóúñçãõâêôüöäß")
    pieces = SPECIALS + chars + [f"##{c}" for c in chars] + sorted(set(_WORDS))
    return list(dict.fromkeys(pieces))


def build_tiny_tokenizer(out_dir: Path) -> None:
    """Write a WordPiece ``tokenizer.json`` + config usable by ``AutoTokenizer`` into ``out_dir``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertTokenizer

    vocab = {piece: i for i, piece in enumerate(_vocab())}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=50))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizer(tokenizer_object=tok, model_max_length=128)
    fast.save_pretrained(str(out_dir))


def build_tiny_encoder(
    out_dir: str | Path, *, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0
) -> Path:
    """Write a randomly initialised ``BertModel`` (safetensors) and its tokenizer into ``out_dir``.

    Args:
        out_dir: Folder to create (written atomically).
        hidden: Hidden size.
        layers: Number of transformer layers.
        heads: Attention heads.
        seed: Seed of the random initialisation, so the same arguments give the same weights.

    Returns:
        The folder.
    """
    import torch
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        build_tiny_tokenizer(tmp)
        config = BertConfig(
            vocab_size=len(_vocab()),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=hidden * 2,
            max_position_embeddings=128,
            pad_token_id=0,
        )
        torch.manual_seed(seed)
        BertModel(config, add_pooling_layer=False).save_pretrained(str(tmp))
        (tmp / "xlt_distill_source.json").write_text(json.dumps({"tiny_version": TINY_VERSION, "seed": seed}))
    return out


def packaged_tiny_path() -> Path:
    """The tiny model under ``$DISTILL_CACHE/models/tiny-random-bert``, built on first use."""
    out = cache_dir("models", "tiny-random-bert")
    stamp = out / "xlt_distill_source.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("tiny_version") == TINY_VERSION:
        return out
    return build_tiny_encoder(out)
