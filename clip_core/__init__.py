"""clip_core: CLIP models, tokenizer, checkpoint loading, trainer and zero-shot evaluation."""
