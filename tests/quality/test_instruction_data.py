"""Instruction-style JSONL (DCLM's positives as published: OpenHermes ``conversations``, ELI5 question and
answers) is read by ``curate quality train`` and trains a classifier with named labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from curate.quality.cli import register
from curate.quality.eval import evaluate_file
from curate.quality.sources import instruction_text, read_records

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"
WIKI = DATA / "wiki.jsonl"  # WikiText-2 paragraphs (CC BY-SA 3.0)
CRAWL = DATA / "crawl_boilerplate.jsonl"  # full-page text of real crawled pages (Apache-2.0 test WARCs)


def _paragraphs() -> list[str]:
    return [json.loads(line)["text"] for line in WIKI.read_text().splitlines()]


def _first_sentence(p: str) -> str:
    return p.split(". ")[0].rstrip(".") + "?"


def test_each_published_layout_reads_as_its_turns() -> None:
    oh = {
        "conversations": [
            {"from": "system", "value": "You are a helpful assistant."},
            {"from": "human", "value": "What is a comet?"},
            {"from": "gpt", "value": "A comet is an icy body that releases gas near the Sun."},
        ],
        "source": "airoboros2.2",
    }
    assert instruction_text(oh) == "What is a comet?\n\nA comet is an icy body that releases gas near the Sun."
    chat = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
    assert instruction_text(chat) == "Hi\n\nHello."
    eli5 = {  # the Hugging Face eli5 layout: the best-scored answer is kept
        "q_id": "1",
        "title": "Why is the sky blue?",
        "selftext": "",
        "answers": {"a_id": ["a", "b"], "text": ["Because.", "Air scatters blue light more."], "score": [2, 40]},
    }
    assert instruction_text(eli5) == "Why is the sky blue?\n\nAir scatters blue light more."
    assert instruction_text({"question": "Q?", "answer": "A."}) == "Q?\n\nA."
    assert instruction_text({"instruction": "Sum", "input": "2 and 2", "output": "4"}) == "Sum\n\n2 and 2\n\n4"
    assert instruction_text({"prompt": "P", "response": "R"}) == "P\n\nR"
    # not instruction data: no text, so the record is skipped
    assert instruction_text({"id": 3, "label": 1}) is None
    assert instruction_text({"title": "A question with no answers", "answers": {"text": [], "score": []}}) is None


def test_reader_takes_text_first_then_instruction_layouts(tmp_path: Path) -> None:
    f = tmp_path / "mixed.jsonl"
    rows = [
        {"text": "plain text row"},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
        {"meta": "no text at all"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["text"] for r in read_records(str(f))] == ["plain text row", "q\n\na"]


def test_train_cli_on_openhermes_and_eli5_positives(tmp_path: Path) -> None:
    paras = _paragraphs()
    # Real paragraphs in the two published layouts: the question is the paragraph's first sentence.
    oh = tmp_path / "openhermes.jsonl"
    oh.write_text(
        "".join(
            json.dumps(
                {"conversations": [{"from": "human", "value": _first_sentence(p)}, {"from": "gpt", "value": p}]}
            )
            + "\n"
            for p in paras[0:60:2]
        )
    )
    eli5 = tmp_path / "eli5.jsonl"
    eli5.write_text(
        "".join(
            json.dumps({"title": _first_sentence(p), "selftext": "", "answers": {"text": [p], "score": [1]}})
            + "\n"
            for p in paras[1:60:2]
        )
    )
    crawl = [json.loads(line)["text"] for line in CRAWL.read_text().splitlines()]
    neg = tmp_path / "crawl.jsonl"
    neg.write_text("".join(json.dumps({"text": t}) + "\n" for t in crawl[:50]))
    out = tmp_path / "oh_eli5.bin"
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "quality",
            "train",
            "--positive",
            str(oh),
            str(eli5),
            "--negative",
            str(neg),
            "--output",
            str(out),
            "--max-docs-per-class",
            "1000",
            "--positive-label",
            "hq",
            "--negative-label",
            "cc",
            "--valid-fraction",
            "0.2",
            "--dim",
            "16",
            "--epoch",
            "25",
            "--lr",
            "0.5",
            "--thread",
            "1",
            "--bucket",
            "100000",
        ]
    )
    assert args.func(args) == 0
    card = json.loads(out.with_name(out.name + ".card.json").read_text())
    assert card["labels"] == {"positive": "__label__hq", "negative": "__label__cc"}
    assert card["parameters"]["wordNgrams"] == 2  # DCLM's bigrams by default
    assert card["counts"]["positive"] == 60
    # wiki paragraphs and crawl pages not seen in training: the paragraphs rank above the boilerplate
    test = tmp_path / "test.jsonl"
    test.write_text(
        "".join(json.dumps({"text": p, "label": 1}) + "\n" for p in paras[60:90])
        + "".join(json.dumps({"text": t, "label": 0}) + "\n" for t in crawl[50:])
    )
    m = evaluate_file(str(out), [str(test)])
    assert m["positive_label"] == "__label__hq"
    assert m["roc_auc"] > 0.9
