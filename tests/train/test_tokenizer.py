import json
import random
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from train.tokenizer import EOT, decode, encode_documents, eot_id, train_tokenizer, train_tokenizer_from_texts

EDGE_CASES = [
    "",
    "plain ASCII, with punctuation!?",
    "emoji 🤖🎉👩‍👩‍👧 and flags 🇫🇷",
    "中文字符和日本語のテキスト、한국어",
    "control chars \x00\x01\x07\x1b[31m\x7f and tabs\t\tnewlines\r\n\n",
    "combining: e\u0301 vs é, RTL: שלום مرحبا, zero-width:\u200b\u200d\ufeff",
    "astral \U0001d49c\U0010ffff, private use \ue000, replacement \ufffd",
    "   leading and trailing spaces   ",
    "<|endoftext|> inside a document, twice <|endoftext|>",
    "".join(chr(i) for i in range(256)),  # every code point of one or two UTF-8 bytes up to ÿ
    "\ud7ff\ue000\U0001f600" * 50,  # around the surrogate gap, repeated past any merge
]


def random_strings(n: int, seed: int = 0) -> list[str]:
    """Random strings over all of Unicode except the surrogates (which no UTF-8 text can hold)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 60)):
            cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])
            chars.append(chr(cp))
        out.append("".join(chars))
    return out


def test_round_trip_is_exact(tokenizer_path: Path) -> None:
    tok = Tokenizer.from_file(str(tokenizer_path))
    texts = EDGE_CASES + random_strings(300)
    for text, ids in zip(texts, encode_documents(tok, texts)):
        assert decode(tok, ids) == text


def test_special_token_text_is_not_a_separator(tokenizer_path: Path) -> None:
    tok = Tokenizer.from_file(str(tokenizer_path))
    ids = encode_documents(tok, ["before <|endoftext|> after"])[0]
    assert eot_id(tok) not in ids
    assert tok.encode_special_tokens is False  # the caller's tokenizer is left as it was


def test_trained_tokenizer_file(tokenizer_path: Path, corpus: Path, tmp_path: Path) -> None:
    tok = Tokenizer.from_file(str(tokenizer_path))
    assert tok.get_vocab_size() == 512
    assert eot_id(tok) == 0 and tok.id_to_token(0) == EOT
    # Merges learned from the prose: common words are single tokens.
    assert len(tok.encode(" the").ids) == 1
    # A sample of documents, and the same sample again: the same tokenizer.
    a = train_tokenizer(str(corpus), 300, tmp_path / "a.json", max_docs=50)
    train_tokenizer(str(corpus), 300, tmp_path / "b.json", max_docs=50)
    assert (
        a.get_vocab_size() == 300 and (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    )


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer_from_texts(["x"], 100)
    with pytest.raises(FileNotFoundError):
        train_tokenizer(str(tmp_path / "*.parquet"), 512, tmp_path / "t.json")
    tok = train_tokenizer_from_texts(["some text"], 300, special_tokens=["<pad>"])
    with pytest.raises(ValueError, match="endoftext"):
        eot_id(tok)


def test_reads_fsspec_urls_with_globs() -> None:
    """Inputs may be fsspec URLs with globs; only non-empty ``text`` values are read."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq

    from train.inputs import expand_inputs, iter_texts

    fs = fsspec.filesystem("memory")
    for i in range(3):
        with fs.open(f"/bucket/run/data/part-{i}.parquet", "wb") as f:
            pq.write_table(pa.table({"id": [f"{i}a", f"{i}b"], "text": [f"doc {i}", ""]}), f)
    paths = expand_inputs("memory://bucket/run/data/part-*.parquet")
    assert paths == [f"memory:///bucket/run/data/part-{i}.parquet" for i in range(3)]
    assert expand_inputs("memory://bucket/run/data") == paths  # a directory means its *.parquet
    assert list(iter_texts(paths)) == ["doc 0", "doc 1", "doc 2"]
    assert list(iter_texts(paths, max_docs=2)) == ["doc 0", "doc 1"]
    tok = train_tokenizer("memory://bucket/run/data/*.parquet", 260, None)
    assert tok.get_vocab_size() <= 260


def test_from_vocab_and_merges_encodes_as_the_original(tokenizer_path: Path, tmp_path: Path) -> None:
    """GPT-2 style files (vocab.json + merges.txt, as tokenizers' BPE.save writes them) → the same ids."""
    from conftest import paragraphs

    from train.tokenizer import encode, encode_documents, tokenizer_from_vocab_merges

    original = Tokenizer.from_file(str(tokenizer_path))
    vocab, merges = original.model.save(str(tmp_path))
    assert Path(merges).read_text().startswith("#version")
    rebuilt = tokenizer_from_vocab_merges(vocab, merges, tmp_path / "rebuilt.json")
    texts = paragraphs() + EDGE_CASES + random_strings(200)
    assert encode_documents(rebuilt, texts) == encode_documents(original, texts)
    assert eot_id(rebuilt) == eot_id(original) and rebuilt.get_vocab_size() == original.get_vocab_size()
    assert Tokenizer.from_file(str(tmp_path / "rebuilt.json")).encode("the cat").ids == encode(
        rebuilt, "the cat"
    )


def test_from_vocab_and_merges_worked_example(tmp_path: Path) -> None:
    """A hand-made byte-level vocabulary: 'Ġ' is the space byte in GPT-2's alphabet."""
    from tokenizers import pre_tokenizers

    from train.tokenizer import encode, tokenizer_from_vocab_merges

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet)}
    for t in ("lo", "low", "Ġlow", "<|endoftext|>"):
        vocab[t] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\nl o\nlo w\nĠ low\n")
    tok = tokenizer_from_vocab_merges(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert encode(tok, "low low lo") == [vocab["low"], vocab["Ġlow"], vocab["Ġ"], vocab["lo"]]
    assert eot_id(tok) == vocab["<|endoftext|>"]  # already in the vocabulary: keeps its id, as GPT-2's 50256
    (tmp_path / "bad.txt").write_text("l o\nx y z\n")
    with pytest.raises(ValueError, match="line 2"):
        tokenizer_from_vocab_merges(vocab, tmp_path / "bad.txt")
    with pytest.raises(ValueError, match="missing"):
        tokenizer_from_vocab_merges(vocab, [("q", "z")])


def test_special_tokens_when_asked(tokenizer_path: Path) -> None:
    from train.tokenizer import encode

    tok = Tokenizer.from_file(str(tokenizer_path))
    text = "a prompt<|endoftext|>next"
    kept = encode(tok, text, special_tokens=True)
    assert kept.count(eot_id(tok)) == 1 and decode(tok, kept) == text
    assert eot_id(tok) not in encode(tok, text)  # the default stays the safe one
    assert tok.encode_special_tokens is False


def test_streaming_encode_is_lazy_and_equal(tokenizer_path: Path) -> None:
    from conftest import paragraphs

    from train.tokenizer import encode_stream

    tok = Tokenizer.from_file(str(tokenizer_path))
    pulled = []

    def texts():
        for p in paragraphs():
            pulled.append(p)
            yield p

    stream = encode_stream(tok, texts(), batch_size=16)
    first = next(stream)
    assert len(pulled) == 16  # one batch read, not the corpus
    assert [first, *stream] == encode_documents(tok, paragraphs())


def test_trains_from_jsonl_and_text(tmp_path: Path) -> None:
    import gzip

    from conftest import paragraphs

    texts = paragraphs()
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt") as f:
        for t in texts[:150]:
            f.write(json.dumps({"text": t}) + "\n")
    (tmp_path / "book.txt").write_text("\n\n".join(texts[150:]), encoding="utf-8")
    from train.inputs import expand_inputs, iter_texts

    assert [p.rsplit("/", 1)[-1] for p in expand_inputs(str(tmp_path))] == ["book.txt", "docs.jsonl.gz"]
    assert len(list(iter_texts(expand_inputs(str(tmp_path))))) == 151  # 150 records + the book, one document
    b = train_tokenizer_from_texts(list(iter_texts(expand_inputs(str(tmp_path)))), 400)
    a = train_tokenizer(str(tmp_path), 400, tmp_path / "out" / "a.json")
    assert a.get_vocab_size() == 400 and a.to_str() == b.to_str()
