"""Tokenizer: identical ids to open_clip, merges-file lookup order, training our own merges."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import open_clip
import pytest
import torch

import clip_core
from clip_core import tokenizer as tk
from clip_core.tokenizer import ENV_VAR, Tokenizer, find_bpe_path, read_merges

from .conftest import CORPUS


@pytest.fixture(scope="session")
def openai_tok() -> Tokenizer:
    return tk.default_tokenizer()


def test_reference_ids():
    ids = clip_core.tokenize(["a cat", "a photo of a cat."])
    assert ids.shape == (2, 77) and ids.dtype == torch.long
    assert ids[0, :5].tolist() == [49406, 320, 2368, 49407, 0]
    assert ids[1, :9].tolist() == [49406, 320, 1125, 539, 320, 2368, 269, 49407, 0]


@pytest.mark.parametrize("context_length", [77, 16])
def test_same_ids_as_open_clip(openai_tok, context_length):
    ours = openai_tok(CORPUS, context_length=context_length)
    ref = open_clip.tokenize(CORPUS, context_length=context_length)
    assert torch.equal(ours, ref)
    assert openai_tok.vocab_size == 49408 and openai_tok.sot_token_id == 49406 and openai_tok.eot_token_id == 49407


def test_truncation_ends_with_eot(openai_tok):
    ids = openai_tok("x " * 200, context_length=10)[0]
    assert ids[0] == 49406 and ids[-1] == 49407 and (ids != 0).all()


def test_decode_round_trip(openai_tok):
    assert openai_tok.decode(openai_tok.encode("A Cat &amp; a dog, 42!")).strip() == "a cat & a dog , 4 2 !"


def test_lookup_order(tmp_path, monkeypatch, openai_tok):
    package_file = Path(importlib.util.find_spec("open_clip").submodule_search_locations[0]) / tk.BPE_FILENAME
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_bpe_path() == package_file
    env_file = tmp_path / "env.txt.gz"
    openai_tok.save(env_file)
    monkeypatch.setenv(ENV_VAR, str(env_file))
    assert find_bpe_path() == env_file
    explicit = tmp_path / "explicit.txt.gz"
    explicit.write_bytes(env_file.read_bytes())
    assert find_bpe_path(explicit) == explicit
    with pytest.raises(FileNotFoundError, match="nope.gz"):
        find_bpe_path(tmp_path / "nope.gz")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.gz"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        find_bpe_path()


def test_missing_file_explains_how_to_get_it(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError) as err:
        find_bpe_path()
    msg = str(err.value)
    assert "pip install open_clip_torch" in msg and ENV_VAR in msg and "bpe_simple_vocab_16e6.txt.gz" in msg


def test_saved_openai_merges_reload_identically(tmp_path, openai_tok):
    path = openai_tok.save(tmp_path / "copy.txt.gz")
    again = Tokenizer.from_file(path)
    assert again.merges == openai_tok.merges
    assert torch.equal(again(CORPUS), openai_tok(CORPUS))


def test_train_save_load(tmp_path):
    captions = ["a photo of a cat", "a photo of a dog", "a cat on a mat", "the dog and the cat",
                "photos of cats and dogs", "a red car on the road", "a blue car"] * 5
    tok = Tokenizer.train(captions, vocab_size=560, context_length=24)
    assert 514 < tok.vocab_size <= 560
    assert tok.eot_token_id == tok.vocab_size - 1 and tok.sot_token_id == tok.vocab_size - 2
    # frequent words become single tokens
    assert len(tok.encode("photo")) == 1 and len(tok.encode("cat")) == 1
    ids = tok("a photo of a cat")
    assert ids.shape == (1, 24) and ids[0, 0] == tok.sot_token_id
    assert tok.decode(tok.encode("a photo of a zebra!")).strip() == "a photo of a zebra !"
    path = tok.save(tmp_path / "own.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("#version") and all(len(l.split()) == 2 for l in lines[1:])
    again = Tokenizer.from_file(path, max_merges=None, context_length=24)
    assert again.merges == tok.merges and torch.equal(again(captions), tok(captions))


def test_train_is_deterministic_and_small_vocab_errors():
    captions = ["one two three", "two three four", "three four five"]
    assert Tokenizer.train(captions, 530).merges == Tokenizer.train(captions, 530).merges
    with pytest.raises(ValueError, match="514"):
        Tokenizer.train(captions, 100)
    with pytest.raises(ValueError, match="strings"):
        Tokenizer.train([1, 2], 600)


def test_bad_merges_files(tmp_path):
    plain = tmp_path / "plain.txt.gz"
    plain.write_text("not gzip")
    with pytest.raises(ValueError, match="plain.txt.gz"):
        read_merges(plain)
    bad = tmp_path / "bad.txt.gz"
    with gzip.open(bad, "wt") as f:
        f.write("#version\na b c\n")
    with pytest.raises(ValueError, match="line 2"):
        read_merges(bad)
    with pytest.raises(ValueError, match="strings"):
        tk.default_tokenizer()([None])  # type: ignore[list-item]
