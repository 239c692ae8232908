"""A tiny random BERT sentiment classifier and a WordPiece tokenizer trained here: a real Hugging
Face directory that the real loading, export and serving code can use offline."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "stocks rally as earnings beat estimates",
    "shares fall after the company cuts guidance",
    "the central bank holds rates steady",
    "profit warning sends shares sharply lower",
    "record revenue lifts the outlook",
    "regulators fine the bank over compliance failures",
    "oil prices are little changed",
    "dividend raised after a strong quarter",
]
LABELS = {0: "positive", 1: "negative", 2: "neutral"}  # ProsusAI/finbert's order


def build(directory: Path, *, seed: int = 0, labels: dict[int, str] | None = None) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    id2label = labels or LABELS
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=128,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # spread the logits so that labels are decided, not coin flips
        model.classifier.weight.mul_(20.0)
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
