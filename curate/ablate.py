"""``curate ablate``: the DCLM experiment in miniature, with a verdict a sceptical reader accepts.

Given one crawl and several recipes, build each dataset, train the same tiny model on the same token budget
from each (several seeds), and evaluate every model on the same held-out sets. One tokenizer, trained on the
first recipe's output (the least filtered, so a superset of the others' text), serves every model so that
losses are in the same units; bits per UTF-8 byte are reported beside them.

Three rules keep the comparison honest:

- **Equal, unrepeated data.** The budget defaults to the largest one that no recipe repeats: the smallest
  recipe's unique training tokens (rounded down to whole optimizer steps, since the loader draws each window
  once per epoch). A larger ``max_tokens`` is capped there unless ``allow_repeat``; rows that then train over
  more than one epoch are marked ``repeated``. Before capping, a recipe with a percentile quality classifier
  (``quality.keep_top_fraction``) that yields fewer tokens than ``max_tokens`` is re-run with a larger
  fraction (``fit_quality``), so a small crawl does not pit a 1.5-epoch top-10% arm against 0.1-epoch others.
- **Several held-out sets**, each a column (loss and bits per byte); the verdict says where a recipe wins on
  some sets and not others.
- **Significance.** Every pair of recipes is compared on the same seeds: the mean paired difference and its
  95% t interval. A gap inside the interval prints "no difference beyond noise".
"""

from __future__ import annotations

import glob
import gzip
import itertools
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Short names for the usual ablation arms.
RECIPE_ALIASES = {"full": "dclm_baseline"}
EVAL_SUFFIXES = (".txt", ".text", ".md", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
NOISE = "no difference beyond noise"
# Two-sided 95% quantiles of Student's t by degrees of freedom (a larger df uses the next smaller entry:
# conservative). Tabulated rather than computed so the ablation needs no scipy.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
       15: 2.131, 20: 2.086, 30: 2.042}
FIT_MARGIN = 1.15  # a re-run asks for this much more than the missing share (documents differ in length)
FIT_TRIES = 3


# ---- held-out sets

def eval_sets(evals: str | Path | Sequence[str | Path] | Mapping[str, str | Path]) -> dict[str, list[Path]]:
    """Name → files of each held-out set. ``evals``: a mapping, or specs ``NAME=PATH`` / ``PATH`` (named by
    its stem); a PATH is a file or a glob (its files form one set) or a directory (each eval file in it is a
    set). Text files are one document each; JSONL and Parquet give one document per row (``text``)."""
    if isinstance(evals, Mapping):
        specs = [(str(k), str(v)) for k, v in evals.items()]
    else:
        items = [evals] if isinstance(evals, str | Path) else list(evals)
        specs = [tuple(str(s).split("=", 1)) if "=" in str(s) else ("", str(s)) for s in items]
    sets: dict[str, list[Path]] = {}
    for name, spec in specs:
        if Path(spec).is_dir():
            found = [p for p in sorted(Path(spec).iterdir()) if p.name.endswith(EVAL_SUFFIXES)]
            if not found:
                raise FileNotFoundError(f"--eval {spec}: no {', '.join(EVAL_SUFFIXES)} file in the folder")
            for p in found:
                sets[f"{name}.{_stem(p)}" if name else _stem(p)] = [p]
            continue
        files = [Path(p) for p in sorted(glob.glob(spec))] if any(c in spec for c in "*?[") else [Path(spec)]
        if not files or not all(p.is_file() for p in files):
            raise FileNotFoundError(f"--eval {name + '=' if name else ''}{spec}: no such file")
        sets[name or _stem(files[0])] = files
    if not sets:
        raise ValueError("ablate needs at least one held-out set (--eval)")
    return sets


def _stem(p: Path) -> str:
    name = p.name
    for suffix in sorted(EVAL_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return p.stem


def read_documents(path: Path) -> list[str]:
    """The documents of one held-out file: a text file is one; JSONL and Parquet rows give one each."""
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        docs = [t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t]
    elif ".jsonl" in name:
        if name.endswith(".zst"):
            import io

            import zstandard

            with open(path, "rb") as raw:
                lines = io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), "utf-8").readlines()
        else:
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                lines = f.readlines()
        docs = [t for line in lines if line.strip() and (t := json.loads(line).get("text"))]
    else:
        docs = [path.read_text(encoding="utf-8")]
    if not any(d.strip() for d in docs):
        raise ValueError(f"--eval {path}: no text in it")
    return docs


# ---- significance

def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Mean of the per-seed differences a - b, its 95% t half-width, and whether 0 lies outside it."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    out: dict[str, Any] = {"diff": statistics.fmean(d), "n": len(d), "half_width": None, "beyond_noise": None}
    if len(d) > 1:
        df = len(d) - 1
        t = T95[max(k for k in T95 if k <= df)]
        out["half_width"] = t * statistics.stdev(d) / math.sqrt(len(d))
        out["beyond_noise"] = abs(out["diff"]) > out["half_width"]
    return out


def compare(results: list[dict[str, Any]], sets: list[str]) -> dict[str, Any]:
    """Paired comparisons of every pair of recipes on every set, the best recipe per set, and the verdict."""
    pairs, best = [], {}
    for a, b in itertools.combinations(results, 2):
        per_set = {s: paired_difference(a["sets"][s]["losses"], b["sets"][s]["losses"]) for s in sets}
        pairs.append({"a": a["recipe"], "b": b["recipe"], "sets": per_set})
    for s in sets:
        top = min(results, key=lambda r: r["sets"][s]["loss_mean"])["recipe"]
        clear = all(p["sets"][s]["beyond_noise"] for p in pairs if top in (p["a"], p["b"]))
        best[s] = {"recipe": top, "beyond_noise": bool(clear) and len(results) > 1}
    winners = {v["recipe"] for v in best.values() if v["beyond_noise"]}
    if len(results) == 1:
        verdict = "One recipe: nothing to compare."
    elif len(winners) == 1 and all(v["beyond_noise"] for v in best.values()):
        verdict = (f"{winners.pop()} has the lowest loss on every held-out set, beyond noise against each "
                   "other recipe.")
    else:
        verdict = "No recipe wins on every set: " + "; ".join(
            f"{s}: {v['recipe']}" + ("" if v["beyond_noise"] else " lowest, but not beyond noise")
            for s, v in best.items()
        ) + "."
    return {"pairs": pairs, "best": best, "verdict": verdict}


def significance_lines(table: dict[str, Any]) -> list[str]:
    """One line per pair of recipes per set, then the verdict: the text the table and the report print."""
    seeds = ",".join(str(s) for s in table["seeds"])
    lines = []
    for p in table["comparison"]["pairs"]:
        for s, c in p["sets"].items():
            head = f"{s}: {p['a']} - {p['b']} = {c['diff']:+.4f}"
            if c["half_width"] is None:
                lines.append(f"{head} (one seed: no noise estimate; run --seeds 0,1,2)")
            elif c["beyond_noise"]:
                lower = p["a"] if c["diff"] < 0 else p["b"]
                lines.append(f"{head} ± {c['half_width']:.4f} (95%, paired over seeds {seeds}): "
                             f"{lower} lower")
            else:
                lines.append(f"{head} ± {c['half_width']:.4f} (95%, paired over seeds {seeds}): {NOISE}")
    lines.append(table["comparison"]["verdict"])
    return lines


# ---- the ablation

def usable_steps(unique_tokens: int, cfg: dict[str, Any]) -> int:
    """Optimizer steps that draw no training window twice (the loader permutes windows once per epoch)."""
    windows = max(0, unique_tokens - 1) // cfg["block_size"]
    return windows // (cfg["batch_size"] * cfg["grad_accum"])


def arm_name(recipe: str) -> str:
    """A recipe's name in the table and in folder names: a YAML path by its stem."""
    return Path(recipe).stem if recipe.endswith((".yaml", ".yml")) else recipe


def quality_fraction(recipe: str, overrides: list[str]) -> float | None:
    """The recipe's ``quality.keep_top_fraction`` (None: no quality stage, or a fixed-threshold one)."""
    from curate.recipe import load_recipe

    for name, params in load_recipe(recipe, overrides, check=False).stages:
        if name == "quality":
            return params.get("keep_top_fraction")
    return None


def run_ablation(
    inputs: list[str],
    recipes: list[str],
    evals: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    output: str | Path,
    *,
    seeds: tuple[int, ...] = (0, 1, 2),
    train_config: str = "tiny",
    max_tokens: int | None = None,
    allow_repeat: bool = False,
    fit_quality: bool = True,
    vocab_size: int = 4096,
    overrides: list[str] | None = None,
    train_overrides: tuple[str, ...] = (),
    ray_address: str | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run the ablation into ``output``; returns (and writes to ``ablation.json``) the results table.

    ``evals``: the held-out sets (see :func:`eval_sets`). ``max_tokens``: the training budget per model;
    None = the smallest recipe's unique tokens. Above that, ``fit_quality`` re-runs classifier recipes with
    a larger ``keep_top_fraction``, and what still falls short caps the budget unless ``allow_repeat``.
    """
    from curate.runner import run
    from curate.stats import funnel
    from train.config import load_config
    from train.evaluate import evaluate
    from train.tokenize import tokenize_shards
    from train.tokenizer import train_tokenizer
    from train.train import train

    if len(seeds) < 1 or len(recipes) < 1:
        raise ValueError("ablate needs at least one recipe and one seed")
    if len(set(seeds)) != len(seeds) or len({arm_name(r) for r in recipes}) != len(recipes):
        raise ValueError("ablate: seeds and recipe names must not repeat")
    set_files = eval_sets(evals)
    sets = {name: [d for p in files for d in read_documents(p)] for name, files in set_files.items()}
    cfg = load_config(train_config, list(train_overrides))
    tokens_per_step = cfg["batch_size"] * cfg["block_size"] * cfg["grad_accum"]
    out, overrides = Path(output), list(overrides or [])
    tok = out / "tokenizer.json"

    def build(spec: str, extra: list[str], tag: str) -> dict[str, Any]:
        name, recipe = arm_name(spec), RECIPE_ALIASES.get(spec, spec)
        run_dir = out / "runs" / f"{name}{tag}"
        log(f"[data] {name} ({recipe}{', ' + ' '.join(extra) if extra else ''})")
        res = run(recipe, inputs, str(run_dir), overrides=overrides + extra, ray_address=ray_address,
                  progress=progress)
        if not res.ok:
            raise RuntimeError(f"recipe {name}: shards failed: {sorted(res.failed)}")
        if not tok.exists():
            log(f"[tokenizer] vocab {vocab_size}, trained on '{name}'")
            train_tokenizer(str(run_dir / "data" / "*.parquet"), vocab_size, tok)
        manifest = tokenize_shards(str(run_dir / "data" / "*.parquet"), tok, out / "tokens" / f"{name}{tag}",
                                   val_fraction=0.05, ray_address=ray_address, progress=progress)
        f = funnel(str(run_dir))
        unique = int(manifest["train_tokens"])
        return {"recipe": name, "spec": spec, "dir_name": f"{name}{tag}", "run_dir": str(run_dir),
                "tokens_dir": str(out / "tokens" / f"{name}{tag}"),
                "docs": f["stages"][-1]["docs_out"], "unique_tokens": unique, "train_tokens": unique,
                "input_bytes": f["input_bytes"], "steps_unrepeated": usable_steps(unique, cfg),
                "recipe_overrides": extra}

    arms = [build(name, [], "") for name in recipes]
    notes = []
    wanted_steps = math.ceil(max_tokens / tokens_per_step) if max_tokens else None
    for i, arm in enumerate(arms):
        for _ in range(FIT_TRIES if fit_quality and wanted_steps else 0):
            recipe = RECIPE_ALIASES.get(arm["spec"], arm["spec"])
            frac = quality_fraction(recipe, overrides + arm["recipe_overrides"])
            if arm["steps_unrepeated"] >= wanted_steps or frac is None or frac >= 1.0:
                break
            new = min(1.0, round(frac * FIT_MARGIN * wanted_steps / max(1, arm["steps_unrepeated"]), 3))
            log(f"[fit] {arm['recipe']}: {arm['unique_tokens']:,} unique tokens < {max_tokens:,}: "
                f"keep_top_fraction {frac} -> {new}")
            original = arm.get("keep_top_fraction", {}).get("recipe", frac)
            arms[i] = arm = {**build(arm["spec"], [f"quality.keep_top_fraction={new}"], f"-keep{new}"),
                             "keep_top_fraction": {"recipe": original, "chosen": new}}
        if "keep_top_fraction" in arm:
            k = arm["keep_top_fraction"]
            notes.append(f"'{arm['recipe']}' ran with quality.keep_top_fraction={k['chosen']} (recipe: "
                         f"{k['recipe']}) so that it has {max_tokens:,} unique tokens or the most it can.")
    smallest = min(arms, key=lambda a: a["steps_unrepeated"])
    cap = smallest["steps_unrepeated"]
    if cap < 1 and (wanted_steps is None or not allow_repeat):
        raise ValueError(f"recipe '{smallest['recipe']}' kept {smallest['unique_tokens']:,} training tokens, "
                         f"less than one step ({tokens_per_step:,}): use a bigger crawl or --allow-repeat")
    if wanted_steps is None:
        steps = cap
        notes.append(f"Budget = the smallest recipe's unique tokens ('{smallest['recipe']}'), so no recipe "
                     "repeats data.")
    elif wanted_steps > cap and not allow_repeat:
        steps = cap
        notes.append(f"Budget capped from {max_tokens:,} to {cap * tokens_per_step:,} tokens, the unique "
                     f"tokens of '{smallest['recipe']}', so no recipe repeats data "
                     "(--allow-repeat to exceed).")
    else:
        steps = wanted_steps
        if wanted_steps > cap:
            notes.append("--allow-repeat: rows marked * train over their data more than once.")
        else:
            notes.append("Budget = --max-tokens; every recipe has at least that many unique tokens.")
    budget = steps * tokens_per_step

    results, params = [], 0
    for arm in arms:
        per_set: dict[str, dict[str, list[float]]] = {s: {"losses": [], "bpb": []} for s in sets}
        trained = 0
        for seed in seeds:
            # The budget is in the name: a rerun with another budget must not resume these checkpoints.
            ckpt = out / "models" / f"{arm['dir_name']}-{budget}tok-seed{seed}"
            log(f"[train] {arm['recipe']} seed {seed}: {budget:,} tokens")
            summary = train(train_config, arm["tokens_dir"], ckpt, seed=seed, max_tokens=budget,
                            overrides=list(train_overrides))
            trained, params = int(summary["tokens"]), int(summary["params"])
            for s, docs in sets.items():
                ev = evaluate(ckpt, docs)
                per_set[s]["losses"].append(ev["loss"])
                per_set[s]["bpb"].append(ev.get("bits_per_byte", float("nan")))
            log("        " + "  ".join(f"{s} {v['losses'][-1]:.4f}" for s, v in per_set.items()))
        stats = {s: {"losses": v["losses"], "loss_mean": statistics.fmean(v["losses"]),
                     "loss_std": statistics.stdev(v["losses"]) if len(v["losses"]) > 1 else 0.0,
                     "bits_per_byte": v["bpb"], "bits_per_byte_mean": statistics.fmean(v["bpb"])}
                 for s, v in per_set.items()}
        first = stats[next(iter(sets))]
        results.append({
            **{k: v for k, v in arm.items() if k != "tokens_dir"},
            "trained_tokens": trained,
            "epochs": trained / max(1, arm["unique_tokens"]),
            "repeated": steps > arm["steps_unrepeated"],
            "sets": stats,
            # The first set's figures under the names of the one-set table (older readers use them).
            "losses": first["losses"], "loss_mean": first["loss_mean"], "loss_std": first["loss_std"],
            "bits_per_byte_mean": first["bits_per_byte_mean"],
        })
    needed = 20 * params
    notes.append(f"Model {params:,} parameters: a compute-optimal budget is ~20 x that = {needed:,} tokens; "
                 f"this one is {budget / max(1, needed):.0%} of it "
                 f"(see README: how large a crawl an ablation needs).")
    names = list(sets)
    table = {
        "eval": {s: [str(p) for p in files] for s, files in set_files.items()},
        "sets": names,
        "seeds": list(seeds),
        "max_tokens": budget,
        "requested_tokens": max_tokens,
        "allow_repeat": allow_repeat,
        "config": train_config,
        "params": params,
        "note": f"Same model ({train_config}, {params:,} parameters), same budget ({budget:,} tokens), same "
                f"tokenizer (vocab {vocab_size}, trained on '{recipes[0]}'), {len(seeds)} seeds; loss in "
                f"nats/token on {len(names)} held-out set(s): {', '.join(names)} (lower is better). "
                + " ".join(notes),
        "results": results,
    }
    table["comparison"] = compare(results, names)
    table["significance"] = significance_lines(table)
    (out / "ablation.json").write_text(json.dumps(table, indent=1))
    log(format_table(table))
    return table


def format_table(table: dict[str, Any]) -> str:
    """The results as a terminal table, then the note and the significance lines."""
    sets = table.get("sets") or ["held-out"]
    head = f"{'recipe':<16}{'docs':>8}{'unique tokens':>15}{'epochs':>8}"
    head += "".join(f"{s[:14] + ' loss':>21}{'bits/byte':>10}" for s in sets)
    lines = [head]
    for r in table["results"]:
        per = r.get("sets") or {sets[0]: r}
        name = r["recipe"] + (" *" if r.get("repeated") else "")
        row = f"{name:<16}{r['docs']:>8,}{r.get('unique_tokens', r['train_tokens']):>15,}{r['epochs']:>8.2f}"
        for s in sets:
            v = per[s]
            row += f"{v['loss_mean']:>12.4f} ± {v['loss_std']:.4f}{v['bits_per_byte_mean']:>10.4f}"
        lines.append(row)
    if any(r.get("repeated") for r in table["results"]):
        lines.append("* trains over its data more than once (--allow-repeat)")
    lines.append(table.get("note", ""))
    lines += table.get("significance", [])
    return "\n".join(lines)
