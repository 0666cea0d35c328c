"""clip_core: CLIP models, tokenizer, checkpoint loading, trainer and zero-shot evaluation."""
from .checkpoint import LoadedCheckpoint, infer_config, load, load_checkpoint, save_checkpoint
from .config import CLIPConfig, TextConfig, VisionConfig, get_preset, preset_names
from .model import CLIP
from .tokenizer import Tokenizer, default_tokenizer, find_bpe_path, tokenize
from .transforms import CLIP_MEAN, CLIP_STD, image_transform

__all__ = [
    "CLIP", "CLIPConfig", "CLIP_MEAN", "CLIP_STD", "LoadedCheckpoint", "TextConfig", "Tokenizer", "VisionConfig",
    "default_tokenizer", "find_bpe_path", "get_preset", "image_transform", "infer_config", "load",
    "load_checkpoint", "preset_names", "save_checkpoint", "tokenize",
]
