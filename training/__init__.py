"""Training: market data, PatchTST training and evaluation, FinBERT fine-tuning."""
