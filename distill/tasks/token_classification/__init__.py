"""``task=token_classification`` (NER with BIO tags, POS with UPOS): word-level transfer (issue 21).

:mod:`.task` (``TokenClassificationTask``, registered in ``conf/config.yaml``) runs them as a
``distill-run`` task, ``mode=direct`` and ``mode=parallel``, on the synthetic data of
``data=token_toy`` (:mod:`.data`) so far. The parts, each tested on its own:

* :mod:`.words`: texts as words, the sub-words of any tokenizer pooled back to those words (first
  sub-word or mean), so that a teacher and a student with different tokenizers meet on words;
* :mod:`.align`: word alignment from an encoder's contextual embeddings (SimAlign's argmax and
  itermax, Jalili Sabet et al. 2020) and the projection of the teacher's word distributions on the
  source side to the target words, weighted by alignment confidence, unaligned words masked;
* :mod:`.labels`: the teacher's logits per word, cached per word in the shared cache (keyed by the
  sentences' word boundaries, reused across sweep jobs), and projected to target words;
* :mod:`.system`: the student (``...ForTokenClassification``) on word rows through the existing
  loss terms with a word mask (``kd`` weighted by alignment confidence, ``back`` on the source
  words), ``val/agreement_f1`` (macro-F1 over tags against the teacher) for selection;
* :mod:`.tagger`: the fine-tuned taggers (the teacher, the ``direct_transfer`` and ``supervised``
  baselines), one recipe type and one cache (``token_teachers``);
* :mod:`.metrics`: seqeval entity precision/recall/F1 per type, token accuracy;
* :mod:`distill.data.tags`: the tag schemes (BIO, UPOS) and their checks, and
  :mod:`distill.data.files.conll`: CoNLL-U and column (IOB) files, with errors naming file and line.
"""
