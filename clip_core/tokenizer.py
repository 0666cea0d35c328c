"""CLIP byte-level BPE tokenizer: OpenAI's vocabulary by default, or merges trained on our own captions."""
from __future__ import annotations

import gzip
import heapq
import html
import importlib.util
import os
from collections import Counter, defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import ftfy
import regex as re
import torch

from .atomic_files import atomic_path

BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
ENV_VAR = "CLIP_AUDIT_BPE_PATH"
OPENAI_NUM_MERGES = 49152 - 256 - 2  # 48,894 merges -> vocabulary 49,408
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
END_OF_WORD = "</w>"
MERGES_HEADER = "#version: 0.2"


@lru_cache()
def bytes_to_unicode() -> Dict[int, str]:
    """Reversible map from the 256 byte values to printable unicode characters (OpenAI's table)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clean_text(text: str) -> str:
    """ftfy fix, HTML-unescape twice, collapse whitespace, lowercase."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


_PATTERN = re.compile(
    re.escape(SOT) + "|" + re.escape(EOT) + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    re.IGNORECASE,
)


def pre_tokenize(text: str) -> List[str]:
    """Cleaned text split into pre-tokens, each mapped to byte-level unicode symbols."""
    enc = bytes_to_unicode()
    return ["".join(enc[b] for b in tok.encode("utf-8")) for tok in _PATTERN.findall(clean_text(text))]


def _word_symbols(token: str) -> Tuple[str, ...]:
    return tuple(token[:-1]) + (token[-1] + END_OF_WORD,)


def find_bpe_path(path: Optional[Union[str, os.PathLike]] = None) -> Path:
    """Locate OpenAI's merges file: explicit path, then $CLIP_AUDIT_BPE_PATH, then open_clip or clip packages."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"BPE merges file not found: {p}")
        return p
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"${ENV_VAR} points to {p}, which is not a file")
        return p
    searched = []
    for package in ("open_clip", "clip"):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            searched.append(f"{package} (not installed)")
            continue
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / BPE_FILENAME
            if candidate.is_file():
                return candidate
            searched.append(str(candidate))
    raise FileNotFoundError(
        f"OpenAI's BPE merges file {BPE_FILENAME} was not found (looked in: {', '.join(searched)}). "
        f"Install it with `pip install open_clip_torch` (it ships inside the package), or download "
        f"https://github.com/openai/CLIP/raw/main/clip/{BPE_FILENAME} and pass its path or set ${ENV_VAR}.")


def read_merges(path: Union[str, os.PathLike], max_merges: Optional[int] = OPENAI_NUM_MERGES) -> List[Tuple[str, str]]:
    """Merges from a gzip file in OpenAI's format (a header line, then one `a b` merge per line)."""
    p = Path(path)
    try:
        with gzip.open(p, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not a gzip-compressed UTF-8 merges file ({exc})") from exc
    merges = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{p}: line {lineno} is not a merge of two symbols: {line!r}")
        merges.append((parts[0], parts[1]))
        if max_merges is not None and len(merges) >= max_merges:
            break
    if not merges:
        raise ValueError(f"{p}: no merges found")
    return merges


class Tokenizer:
    """Byte-level BPE with `</w>` end-of-word marker; ids: 256 bytes, 256 bytes+`</w>`, merges, SOT, EOT."""

    def __init__(self, merges: Sequence[Tuple[str, str]], context_length: int = 77) -> None:
        self.merges: List[Tuple[str, str]] = [tuple(m) for m in merges]  # type: ignore[misc]
        base = list(bytes_to_unicode().values())
        vocab = base + [b + END_OF_WORD for b in base] + ["".join(m) for m in self.merges] + [SOT, EOT]
        self.encoder: Dict[str, int] = dict(zip(vocab, range(len(vocab))))  # OpenAI's rule: last id wins
        self.decoder = {i: t for t, i in self.encoder.items()}
        self.byte_decoder = {v: k for k, v in bytes_to_unicode().items()}
        self.bpe_ranks = {m: i for i, m in enumerate(self.merges)}
        self.cache: Dict[str, str] = {SOT: SOT, EOT: EOT}
        self.context_length = context_length
        self.sot_token_id = self.encoder[SOT]
        self.eot_token_id = self.encoder[EOT]
        self.vocab_size = len(vocab)

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike], max_merges: Optional[int] = OPENAI_NUM_MERGES,
                  context_length: int = 77) -> "Tokenizer":
        """Tokenizer from a merges file (OpenAI's keeps its first 48,894 merges)."""
        return cls(read_merges(path, max_merges), context_length)

    @classmethod
    def openai(cls, path: Optional[Union[str, os.PathLike]] = None, context_length: int = 77) -> "Tokenizer":
        """OpenAI's vocabulary, merges file located by `find_bpe_path`."""
        return cls.from_file(find_bpe_path(path), OPENAI_NUM_MERGES, context_length)

    @classmethod
    def train(cls, corpus: Iterable[str], vocab_size: int, min_frequency: int = 2,
              context_length: int = 77) -> "Tokenizer":
        """Learn merges on a caption corpus until the vocabulary reaches `vocab_size` (or no pair repeats)."""
        return cls(learn_merges(corpus, vocab_size - 512 - 2, min_frequency), context_length)

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the merges as a gzip file in OpenAI's format (atomic: temp file then rename)."""
        p = Path(path)
        text = MERGES_HEADER + " (clip_core)\n" + "\n".join(f"{a} {b}" for a, b in self.merges) + "\n"
        with atomic_path(p) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
            f.write(text)
        return p

    def bpe(self, token: str) -> str:
        """Apply merges (lowest rank first) to one pre-token; returns space-separated symbols."""
        cached = self.cache.get(token)
        if cached is not None:
            return cached
        word = _word_symbols(token)
        ranks = self.bpe_ranks
        while len(word) > 1:
            pairs = set(zip(word[:-1], word[1:]))
            bigram = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
            if bigram not in ranks:
                break
            first, second = bigram
            new_word: List[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
        out = " ".join(word)
        if len(self.cache) < 1_000_000:
            self.cache[token] = out
        return out

    def encode(self, text: str) -> List[int]:
        """Token ids of one text, without SOT/EOT."""
        if not isinstance(text, str):
            raise ValueError(f"texts must be strings, got {type(text).__name__}")
        return [self.encoder[s] for tok in pre_tokenize(text) for s in self.bpe(tok).split(" ")]

    def decode(self, ids: Iterable[int]) -> str:
        """Text for token ids (special tokens kept, padding zeros must be removed by the caller)."""
        text = "".join(self.decoder[int(i)] for i in ids)
        data = bytearray(self.byte_decoder[c] for c in text)
        return data.decode("utf-8", errors="replace").replace(END_OF_WORD, " ")

    def __call__(self, texts: Union[str, Sequence[str]], context_length: Optional[int] = None) -> torch.LongTensor:
        """[SOT] tokens [EOT], zero padded to `context_length`; over-long texts are cut and end with EOT."""
        if isinstance(texts, str):
            texts = [texts]
        n_ctx = int(context_length or self.context_length)
        if n_ctx < 2:
            raise ValueError(f"context_length must be at least 2, got {n_ctx}")
        result = torch.zeros(len(texts), n_ctx, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.sot_token_id] + self.encode(text) + [self.eot_token_id]
            if len(ids) > n_ctx:
                ids = ids[:n_ctx]
                ids[-1] = self.eot_token_id
            result[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return result


def learn_merges(corpus: Iterable[str], num_merges: int, min_frequency: int = 2) -> List[Tuple[str, str]]:
    """Greedy BPE training: repeatedly merge the most frequent adjacent pair (ties: smallest pair)."""
    if num_merges < 0:
        raise ValueError(f"vocab_size must be at least 514 (512 byte symbols + SOT + EOT); {num_merges} merges asked")
    counts: Counter = Counter()
    for text in corpus:
        if not isinstance(text, str):
            raise ValueError(f"corpus entries must be strings, got {type(text).__name__}")
        counts.update(t for t in pre_tokenize(text) if t not in (SOT, EOT))
    words: List[List[str]] = [list(_word_symbols(t)) for t in counts]
    freqs: List[int] = list(counts.values())
    pair_counts: Dict[Tuple[str, str], int] = defaultdict(int)
    where: Dict[Tuple[str, str], set] = defaultdict(set)
    for wi, w in enumerate(words):
        for pair in zip(w[:-1], w[1:]):
            pair_counts[pair] += freqs[wi]
            where[pair].add(wi)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: List[Tuple[str, str]] = []
    vocab = set(bytes_to_unicode().values()) | {b + END_OF_WORD for b in bytes_to_unicode().values()}
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg or -neg <= 0:
            continue  # stale entry
        if -neg < min_frequency:
            break
        merged = pair[0] + pair[1]
        if merged in vocab:  # two pairs concatenating to the same symbol: keep ids unique
            pair_counts[pair] = 0
            continue
        vocab.add(merged)
        merges.append(pair)
        touched: Dict[Tuple[str, str], int] = {}
        for wi in list(where[pair]):
            w, f = words[wi], freqs[wi]
            for p in zip(w[:-1], w[1:]):
                pair_counts[p] -= f
                touched[p] = pair_counts[p]
            new_w: List[str] = []
            i = 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == pair[0] and w[i + 1] == pair[1]:
                    new_w.append(merged)
                    i += 2
                else:
                    new_w.append(w[i])
                    i += 1
            words[wi] = new_w
            for p in zip(new_w[:-1], new_w[1:]):
                pair_counts[p] += f
                touched[p] = pair_counts[p]
                where[p].add(wi)
        del where[pair]
        for p in touched:
            c = pair_counts[p]
            if c > 0:
                heapq.heappush(heap, (-c, p))
    return merges


@lru_cache(maxsize=4)
def _cached_openai(path: str) -> Tokenizer:
    return Tokenizer.from_file(path)


def default_tokenizer() -> Tokenizer:
    """OpenAI's tokenizer (merges file located by `find_bpe_path`), cached."""
    return _cached_openai(str(find_bpe_path()))


def tokenize(texts: Union[str, Sequence[str]], context_length: int = 77) -> torch.LongTensor:
    """Tokenize with OpenAI's vocabulary: [batch, context_length] int64 ids."""
    return default_tokenizer()(texts, context_length=context_length)
