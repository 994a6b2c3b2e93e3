"""The fallback path: prompt-only probing, dataset export, quality gates, LoRA training."""
