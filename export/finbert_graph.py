"""The function `investiq export finbert` writes to ONNX: token ids and attention mask -> logits [batch, labels].

A BERT classifier (FinBERT's architecture) reads one row of the last encoder layer's output: the [CLS] token's,
through the pooler. Its last layer still needs every token's keys and values, but its query, attention output,
feed-forward network and layer norms matter for that one row only. `LastLayerOnCls` runs them for it alone: the
same logits up to float rounding, for about 1/12 less of BERT-base's work per text (every other row of one of 12
layers), which every runtime reading the graph gains (ONNX Runtime, OpenVINO, TensorRT). On the benchmark's
BERT-base-shaped model as served on a 2-core AVX-512 CPU, bursts of headlines: 1.09x the texts/s on the INT8 graph,
1.03-1.04x on the fused one; one headline 3-4 % shorter, within noise (benchmarks/results/finbert_probes.md, "The
last layer on the [CLS] row only").

Any other model is exported as PyTorch runs it (`LogitsOnly`), which is also the reference every exported graph
is validated against.
"""

from __future__ import annotations

from typing import Any

import torch


class LogitsOnly(torch.nn.Module):
    """The model as PyTorch runs it, single-segment inputs (token_type_ids = 0) -> logits [batch, labels]."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        token_type_ids = torch.zeros_like(input_ids)
        logits: torch.Tensor = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits
        return logits


def cls_only_applies(model: Any) -> bool:
    """Whether `model` is a BERT classifier whose logits read the last layer's first row only, through the
    pooler, with the plain attention that LastLayerOnCls computes (absolute positions, not a decoder)."""
    config = model.config
    bert = getattr(model, "bert", None)
    return (
        config.model_type == "bert"
        and type(model).__name__ == "BertForSequenceClassification"
        and getattr(bert, "pooler", None) is not None
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and not getattr(config, "is_decoder", False)
    )


class LastLayerOnCls(torch.nn.Module):
    """LogitsOnly's logits, with the last encoder layer computed for the [CLS] row only (module docstring).

    Every layer but the last runs as the model runs it (the input of the last layer is the model's own hidden
    state: the exporter drops the layer computed after it, which nothing reads). The last layer is BERT's:
    attention with the [CLS] row's query over every token's key and value, the padding masked out, then the
    attention output, feed-forward and layer norms on that row."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        if not cls_only_applies(model):
            raise ValueError(f"{type(model).__name__} is not a BERT classifier: export it with LogitsOnly")
        self.model = model
        self.heads = int(model.config.num_attention_heads)
        self.size = int(model.config.hidden_size) // self.heads  # of a head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        bert = self.model.bert
        out = bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
            output_hidden_states=True,
        )
        hidden = out.hidden_states[-2]  # the last layer's input: [batch, tokens, width]
        layer = bert.encoder.layer[-1]
        attention = layer.attention.self
        batch, tokens, width = hidden.shape
        cls = hidden[:, :1]

        def split(x: torch.Tensor, rows: int) -> torch.Tensor:  # -> [batch, heads, rows, size]
            return x.view(batch, rows, self.heads, self.size).transpose(1, 2)

        query = split(attention.query(cls), 1)
        key, value = split(attention.key(hidden), tokens), split(attention.value(hidden), tokens)
        scores = torch.matmul(query, key.transpose(-1, -2)) * self.size**-0.5  # a constant in the graph
        padding = (1.0 - attention_mask[:, None, None, :].to(scores.dtype)) * torch.finfo(scores.dtype).min
        context = torch.matmul(torch.softmax(scores + padding, dim=-1), value)
        context = context.transpose(1, 2).reshape(batch, 1, width)
        x = layer.attention.output.LayerNorm(layer.attention.output.dense(context) + cls)
        inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
        x = layer.output.LayerNorm(layer.output.dense(inner) + x)
        logits: torch.Tensor = self.model.classifier(bert.pooler(x))
        return logits


def exported_function(model: Any) -> torch.nn.Module:
    """What export writes for `model`, in eval mode: LastLayerOnCls where it applies, else LogitsOnly."""
    return (LastLayerOnCls(model) if cls_only_applies(model) else LogitsOnly(model)).eval()
