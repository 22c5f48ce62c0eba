import argparse
import json
from pathlib import Path

import pytest
from conftest import MICRO
from tokenizers import Tokenizer

from train.cli import main, register


@pytest.fixture(scope="module")
def cli_checkpoint(token_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli-ckpt")
    sets = [a for k, v in MICRO.items() for a in ("--set", f"{k}={v}")]
    assert (
        main(
            [
                "train",
                "--config",
                "tiny",
                "--data",
                str(token_dir),
                "--output",
                str(out),
                *sets,
                "--set",
                "max_steps=3",
            ]
        )
        == 0
    )
    return out


def test_register_adds_the_subcommands() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tokenizer", "train", "--input", "x/*.parquet", "--output", "t.json"])
    assert args.vocab_size == 8192 and callable(args.func)
    args = parser.parse_args(["tokenize", "--input", "a", "b", "--tokenizer", "t.json", "--output", "o"])
    assert args.input == ["a", "b"] and args.val_fraction == 0.01
    args = parser.parse_args(
        ["train", "--config", "tiny", "--data", "d", "--output", "o", "--set", "max_steps=200"]
    )
    assert args.set == ["max_steps=200"]
    assert parser.parse_args(["sample", "--ckpt", "c"]).checkpoint == "c"
    assert parser.parse_args(["tokenizer"]).func(None) == 2  # no sub-subcommand: help, exit code 2


def test_sample_from_checkpoint(cli_checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    prompt = "The stock market crashed and investors"
    for flag in ("--checkpoint", "--ckpt"):
        assert (
            main(
                [
                    "sample",
                    flag,
                    str(cli_checkpoint),
                    "--prompt",
                    prompt,
                    "--max-new-tokens",
                    "20",
                    "--greedy",
                ]
            )
            == 0
        )
    a, b = capsys.readouterr().out.strip().split("\n", 1)
    assert a.startswith(prompt) and len(a) > len(prompt) and a == b  # greedy: the same text twice
    assert main(["sample", "--ckpt", str(cli_checkpoint), "--num-samples", "2", "--max-new-tokens", "5"]) == 0
    assert capsys.readouterr().out.count("--- sample") == 2


def test_tokenizer_and_tokenize_commands(
    corpus: Path, tmp_path: Path, ray_session, capsys: pytest.CaptureFixture
) -> None:
    tok = tmp_path / "tok" / "tokenizer.json"
    assert (
        main(
            [
                "tokenizer",
                "train",
                "--input",
                str(corpus / "*.parquet"),
                "--vocab-size",
                "300",
                "--output",
                str(tok),
                "--max-docs",
                "100",
            ]
        )
        == 0
    )
    assert tok.exists()
    assert (
        main(
            [
                "tokenize",
                "--input",
                str(corpus / "part-0000[01].parquet"),
                "--tokenizer",
                str(tok),
                "--output",
                str(tmp_path / "tokens"),
                "--shard-tokens",
                "10k",
                "--format",
                "nanogpt",
            ]
        )
        == 0
    )
    manifest = json.loads((tmp_path / "tokens" / "manifest.json").read_text())
    n = -(-manifest["train_tokens"] // 10_000)
    assert n > 1 and len(manifest["shards"]) == n and manifest["tokenizer"]["vocab_size"] == 300
    assert f"{n} shards (global shuffle)" in capsys.readouterr().out
    assert (tmp_path / "tokens" / "nanogpt" / "train.bin").stat().st_size == 2 * manifest["train_tokens"]
    # A mixture: equal token shares, the smaller source repeated up to twice.
    mix = ["--mix", f"a={corpus}/part-00000.parquet:1", f"b={corpus}/part-0000[123].parquet:1"]
    args = ["tokenize", *mix, "--max-epochs", "2", "--tokenizer", str(tok), "--output", str(tmp_path / "m")]
    assert main(args) == 0
    m = json.loads((tmp_path / "m" / "manifest.json").read_text())
    a, b = m["sources"]["a"], m["sources"]["b"]
    assert a["epochs"] == 2.0 and abs(a["target_tokens"] - b["target_tokens"]) <= 1
    assert "a: " in capsys.readouterr().out
    assert main(["tokenize", *mix, "--max-epochs", "c=2", "--tokenizer", str(tok), "--output", "x"]) == 2
    assert main(["tokenize", "--input", "x", *mix, "--tokenizer", str(tok), "--output", "x"]) == 2
    # A tokenizer from GPT-2 style files.
    vocab, merges = Tokenizer.from_file(str(tok)).model.save(str(tmp_path))
    args = [
        "tokenizer",
        "from-vocab",
        "--vocab",
        vocab,
        "--merges",
        merges,
        "--output",
        str(tmp_path / "v.json"),
    ]
    assert main(args) == 0
    assert Tokenizer.from_file(str(tmp_path / "v.json")).encode("the end").ids == (
        Tokenizer.from_file(str(tok)).encode("the end").ids
    )


def test_train_with_a_token_budget(token_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--budget-tokens sizes the model by tokens ≈ 20 × parameters and trains on exactly that budget."""
    small = [
        "--set",
        "batch_size=2",
        "--set",
        "block_size=32",
        "--set",
        "progress=false",
        "--set",
        "eval_batches=1",
    ]
    assert (
        main(["train", "--data", str(token_dir), "--output", str(tmp_path), "--budget-tokens", "12k", *small])
        == 0
    )
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
    assert "n_layer=1 n_embd=64" in out and summary["tokens"] >= 12_000 > summary["tokens"] - 64


def test_bad_input_is_a_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--data", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert main(["sample", "--ckpt", str(tmp_path)]) == 2
    assert main(["train", "--data", str(tmp_path), "--output", str(tmp_path / "o"), "--set", "lr=fast"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json not found" in err and "no checkpoint" in err and "'lr'" in err
