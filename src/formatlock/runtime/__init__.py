"""Where a model runs: llama.cpp models, prompts, the decoding loop, masks, and the backends."""
