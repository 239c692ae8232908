"""Random BERT sequence classifiers with a WordPiece tokenizer trained on the spot: real Hugging
Face directories for the offline tests (tiny) and the benchmark (BERT-base shape)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wordpiece(corpus: Iterable[str], vocab_size: int) -> Any:
    """An uncased BERT-style fast tokenizer ([CLS] text [SEP]) trained on `corpus`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def build(
    directory: Path,
    corpus: Iterable[str],
    *,
    vocab_size: int,
    seed: int = 0,
    labels: dict[int, str] | None = None,
    logit_scale: float = 1.0,
    **shape: Any,
) -> Path:
    """Save tokenizer + random classifier to `directory`. `shape`: BertConfig sizes (default BERT-base);
    `logit_scale` spreads the logits so that a tiny model's labels are decided, not coin flips."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = wordpiece(corpus, vocab_size)
    id2label = labels or FINBERT_LABELS
    config = BertConfig(
        vocab_size=len(tokenizer), id2label=id2label, label2id={v: k for k, v in id2label.items()}, **shape
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(logit_scale)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
