"""Length-sorted micro-batches of the server: every row once, groups by length, padding per group."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from distill.serve.microbatch import micro_batches


def _enc(lengths: list[int]) -> dict[str, list[list[int]]]:
    ids = [[100 + i] * n for i, n in enumerate(lengths)]
    return {"input_ids": ids, "attention_mask": [[1] * n for n in lengths]}


@pytest.mark.parametrize("side", ["right", "left"])
def test_groups_cover_every_row_once_in_length_order_with_their_own_padding(side: str) -> None:
    lengths = [7, 2, 30, 3, 3, 12, 1, 5, 9]
    tokenizer = SimpleNamespace(pad_token_id=0, padding_side=side)
    groups = list(micro_batches(_enc(lengths), tokenizer, size=4))

    rows = np.concatenate([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    assert [lengths[r] for r in rows] == sorted(lengths)  # shortest first
    assert [len(r) for r, _ in groups] == [4, 4, 1]
    for r, batch in groups:
        width = max(lengths[i] for i in r)
        assert batch["input_ids"].shape == (len(r), width) and batch["input_ids"].dtype == np.int64
        for k, i in enumerate(r):
            mask, ids = batch["attention_mask"][k], batch["input_ids"][k]
            assert mask.sum() == lengths[i]
            real = ids[mask == 1]
            assert (real == 100 + i).all() and (ids[mask == 0] == 0).all()
            # the real tokens sit on the tokenizer's side: padding after them (right) or before (left)
            assert (
                (mask[: lengths[i]] == 1).all()
                if side == "right"
                else (mask[width - lengths[i] :] == 1).all()
            )


def test_size_zero_is_one_group_padded_to_the_longest() -> None:
    tokenizer = SimpleNamespace(pad_token_id=1, padding_side="right")
    (rows, batch), *rest = list(micro_batches(_enc([4, 9, 2]), tokenizer, size=0))
    assert not rest and len(rows) == 3 and batch["input_ids"].shape == (3, 9)
    assert batch["input_ids"][rows.tolist().index(2), 4:].tolist() == [1] * 5  # the pad id
