"""Annotate now, select later: keep every document with what each filter measured and decided, then
re-decide from those columns with new parameters, in seconds, without extraction, LID or the classifier.

**Annotate.** A stage with ``mode: annotate`` (or every filter, with the recipe's top-level ``mode: annotate``)
keeps every document. It writes the columns its decision uses (a stage's ``measures``: e.g. ``language``,
``language_score``; ``quality_score``) and ``<stage>__reason``: the reason it would have dropped the document
(null when it would keep it). A global stage in annotate mode runs only its per-document part (the quality
score, the content hash): its decision needs the final set of documents, which ``select`` knows. One with an
``annotator`` runs that global stage instead (``paragraph_dedup``'s keeps every document and stores only the
n-grams that two or more paragraphs of the run hold: the only ones a select can find seen).

**Select.** ``curate select RUN --recipe RECIPE [--set …] --output OUT`` compiles the same recipe with new
parameters into a recipe over RUN's ``data/``: a filter that can decide from its stored columns (its
``decide(doc)``, see :mod:`curate.measure`) is re-decided with the new parameters its ``decided_by``
names, and refuses a change of any other (it would change what was measured); one that cannot decide
replays its stored reason and refuses a changed parameter (rerun it instead); text modifiers are not run
again (their output is the stored text; ``c4``, which decides, rewrites it in annotate mode for every page
and re-decides its page rules);
global stages (dedup, quality percentiles) run for real on the documents that survive, so their decisions are
exactly a full run's. The result is an ordinary run directory: ``data/``, ``rejected/`` with reasons, ``stats/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import xxhash

from curate.errors import RecipeError
from curate.schema import Document
from curate.stage import BaseStage, GlobalStage, Stage, build_stage, ensure_setup, get_stage_class, register

SEP = "__"
# Stages that change ``text``: select never runs them again (their output is the stored text), and a text
# filter placed before one of them cannot be re-run on the stored text (it saw the text before the change).
TEXT_MODIFIERS = frozenset(
    {"extract", "refinedweb_preclean", "refinedweb_line_modifiers", "pii", "line_dedup", "paragraph_dedup",
     "decontaminate", "c4"}
)  # annotation columns are <stage>__<what>; run_schema leaves them out of ordinary inputs' schema


def reason_column(stage_name: str) -> str:
    return f"{stage_name.replace('#', '_')}{SEP}reason"


def kept_so_far(doc: Document) -> bool:
    """An annotated document that no stage before this one would have dropped (no ``<stage>__reason``): the
    documents a full run with the annotating run's parameters brings to this point."""
    return all(v is None for k, v in doc.items() if k.endswith(f"{SEP}reason"))


def stored_key(text: str, salt: str) -> str:
    """A 64-bit fingerprint of ``text`` and of what a stored per-document measure of it depends on (``salt``:
    a model's identity, the parameters that shape the measure).

    A global stage that annotates stores it beside its per-document measure (``quality__key`` beside
    ``quality_score``); when the same documents come back (``curate select``), the stage reuses the stored
    measure only where the key still matches: the text unchanged (a global text modifier before it, run for
    real in select, may have changed it) and the same model and parameters. Elsewhere it measures again.
    """
    # xxh3: ~10x faster than blake2b on page text; a key only tells a changed text (or model) from the same one
    h = xxhash.xxh3_64(salt.encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


#: What a global text modifier, run for real in select, may leave of a document's text: functions of the
#: annotated document (its annotator stored what they need: ``paragraph_dedup`` the paragraphs it could
#: remove). A later stage that stores a measure of the text (``quality``'s score) stores it for these texts
#: too, keyed by their ``stored_key``, so that select finds it whichever of them the modifier leaves.
TEXT_VARIANTS: list[Callable[[Document], list[str]]] = []


def text_variants(doc: Document) -> list[str]:
    """The texts a later global text modifier may leave of ``doc`` (never the text itself; maybe none)."""
    return [v for f in TEXT_VARIANTS for v in f(doc) if v != doc["text"]]


def can_decide(cls: type[BaseStage]) -> bool:
    """Whether the stage re-decides from its stored columns (it defines ``decide(doc)``)."""
    return callable(getattr(cls, "decide", None))


def undecidable_changes(name: str, old_params: dict[str, Any], new_params: dict[str, Any]) -> list[str]:
    """The parameters changed from ``old_params`` that the stage's ``decide()`` does not read (its
    ``decided_by``; a stage that names none re-decides no change): select must refuse them, since the
    stored columns were measured with the old value."""
    old, new = build_stage(name, old_params).params(), build_stage(name, new_params).params()
    decided = set(getattr(get_stage_class(name), "decided_by", ()))
    return [k for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k) and k not in decided]


def unmeasured(name: str, old_params: dict[str, Any], new_params: dict[str, Any]) -> list[str]:
    """Measures the stage with ``new_params`` reads that the annotated run (``old_params``) did not store."""
    old, new = build_stage(name, old_params), build_stage(name, new_params)
    return [m for m in getattr(new, "measures", ()) if m not in getattr(old, "measures", ())]


class Annotate(Stage):
    """Runs ``inner`` and keeps every document: its columns and ``<stage>__reason`` are written instead."""

    def __init__(self, inner: BaseStage, stat_name: str = "") -> None:
        self.inner = inner
        self.reason_col = reason_column(stat_name or inner.name)
        self.columns = (*inner.columns, *getattr(inner, "measures", ()), self.reason_col)  # type: ignore[misc]
        self.needs_text = inner.needs_text  # type: ignore[misc]

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def requirements(self) -> tuple[str, ...]:
        return self.inner.requirements()

    def setup(self) -> None:
        ensure_setup(self.inner)

    def start_shard(self) -> None:
        self.inner.start_shard()

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        # a measured filter computes every measure, exact (in filter mode it stops at the first failing rule);
        # a global stage with an annotate_batch stores its per-document measure and its stored_key
        run = getattr(self.inner, "annotate_batch", None) or self.inner.process_batch
        reasons = run(docs)
        for d, r in zip(docs, reasons):
            d[self.reason_col] = r
        return [None] * len(docs)


@register("select_decide")
class Decide(Stage):
    """Select's stand-in for an annotated filter: its ``decide(doc)`` with new parameters, on stored columns."""

    def __init__(self, stage: str, params: dict[str, Any] | None = None) -> None:
        self.stage = stage
        self.params_ = dict(params or {})
        self._inner = build_stage(stage, self.params_)

    mutates = False  # it reads stored columns, never changes a document

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.stage

    # No setup: ``decide`` reads stored columns and constructor parameters only, so the models and lists a
    # filter loads to measure (lid.176, the URL block lists) are not loaded again to re-decide.

    def process(self, doc: Document) -> str | None:
        return self._inner.decide(doc)  # type: ignore[attr-defined]


@register("select_replay")
class Replay(Stage):
    """Select's stand-in for an annotated stage that cannot re-decide: the reason it recorded."""

    mutates = False

    def __init__(self, stage: str, column: str) -> None:
        self.stage = stage
        self.column = column

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.stage

    def process(self, doc: Document) -> str | None:
        return doc.get(self.column)


def wrap(stage: BaseStage, mode: str, stat_name: str, where: str, explicit: bool = False) -> BaseStage:
    """The stage as a recipe's ``mode`` asks: itself (``filter``) or annotating. A per-document text modifier
    runs as itself (the text it makes is what later stages measure; asking it to annotate is an error),
    unless it can decide (``c4``: it annotates, and rewrites the text of every page, kept or not); a global
    stage annotates by running only its per-document part, and select runs it for real."""
    if mode == "filter":
        return stage
    if mode != "annotate":
        raise RecipeError(f"{where}: mode must be 'filter' or 'annotate', got {mode!r}")
    if stage.name in TEXT_MODIFIERS and not isinstance(stage, GlobalStage) and not can_decide(type(stage)):
        if explicit:
            raise RecipeError(f"{where}: {stage.name} changes the text and cannot annotate")
        return stage
    if callable(annotator := getattr(stage, "annotator", None)):  # a global stage with its own annotate pass
        return annotator(reason_column(stat_name))
    return Annotate(stage, stat_name)


def select_recipe(annotated: dict[str, Any], new: Any) -> Any:
    """The recipe that re-decides ``new`` (a Recipe) from the run that ``annotated`` (its run.yaml recipe) wrote."""
    from curate.recipe import Recipe, stage_items

    old_items = stage_items(annotated)
    new_items = [(n, p) for n, p in new.stages]
    top_mode = annotated.get("mode") or "filter"
    if [n for n, _, _ in old_items] != [n for n, _ in new_items]:
        raise RecipeError(
            f"select: the recipe's stages {[n for n, _ in new_items]} differ from the annotated run's "
            f"{[n for n, _, _ in old_items]}: select re-decides the same stages"
        )
    out: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    names = [n for n, _ in new_items]
    glob_mod = [n in TEXT_MODIFIERS and issubclass(get_stage_class(n), GlobalStage) for n in names]
    doc_mod = [n in TEXT_MODIFIERS and not g for n, g in zip(names, glob_mod)]
    for i, ((name, old_params, old_mode), (_, new_params)) in enumerate(zip(old_items, new_items)):
        seen[name] = seen.get(name, 0) + 1
        stat = name if seen[name] == 1 else f"{name}#{seen[name]}"
        new_params = {k: v for k, v in new_params.items() if k != "mode"}
        mode = old_mode or top_mode
        cls = get_stage_class(name)
        changed = build_stage(name, new_params).params() != build_stage(name, old_params).params()
        if issubclass(cls, GlobalStage):
            out.append((name, new_params))  # runs for real on the survivors: exact, as in a full run
        elif mode != "annotate":
            if changed:
                raise RecipeError(f"select: {stat} did not annotate in the run; its parameters cannot change")
        elif any(glob_mod[:i]):
            # A global stage before it changes the text in a full run (and runs for real in select), so the
            # stored measurements are of other text: only running the stage again is exact.
            if any(doc_mod[i + 1 :]):
                raise RecipeError(
                    f"select: {stat} follows a global text modifier and precedes a per-document one: select "
                    "cannot reproduce the text it saw; run the recipe again"
                )
            out.append((name, new_params))
        elif can_decide(cls):
            if changed and (keys := undecidable_changes(name, old_params, new_params)):
                raise RecipeError(
                    f"select: {stat}.{keys[0]} changed, but {stat} re-decides only "
                    f"{', '.join(getattr(cls, 'decided_by', ())) or 'nothing'} from its stored columns "
                    f"({', '.join(keys)} change what it measures): run the recipe again for that"
                )
            if missing := unmeasured(name, old_params, new_params):
                raise RecipeError(
                    f"select: {stat} with these parameters reads {', '.join(missing)}, which the annotated "
                    "run did not measure: run the recipe again for that"
                )
            out.append(("select_decide", {"stage": name, "params": new_params}))
        elif name not in TEXT_MODIFIERS and not any(doc_mod[i + 1 :]):
            out.append((name, new_params))  # it sees the stored text, as in a full run: run it again
        elif changed:
            raise RecipeError(
                f"select: {stat} cannot re-decide from stored columns (it has no decide()); its parameters "
                "cannot change: run the recipe again for that"
            )
        else:
            out.append(("select_replay", {"stage": name, "column": reason_column(stat)}))
    return Recipe(name=f"{new.name}-select", path=f"<select {new.path}>", stages=out, output=dict(new.output))


def select(run_dir: str, recipe: str, output: str, overrides: list[str] | None = None, **kw: Any) -> Any:
    """Re-decide an annotated run with ``recipe`` (+ ``overrides``) into the run directory ``output``."""
    from curate.recipe import load_recipe, load_yaml
    from curate.rundir import RunDir
    from curate.runner import run

    src = RunDir(run_dir)
    if not src.exists("run.yaml"):
        raise RecipeError(f"select: {run_dir} has no run.yaml: not a run directory")
    info = load_yaml(src.read_bytes("run.yaml")) or {}
    if not info.get("finished"):
        raise RecipeError(f"select: the run in {run_dir} has not finished")
    new = load_recipe(recipe, overrides, check=False)
    decision = select_recipe(info["recipe"], new)
    _check_stored_columns(src, decision)
    return run(decision, [src.uri("data/*.parquet")], output, **kw)


def _check_stored_columns(src: Any, decision: Any) -> None:
    """Every column a re-decided filter reads is in the annotated data (a run annotated by an older curate
    may lack some): a clear error before any work, rather than a missing key in every task."""
    files = src.glob("data/*.parquet")
    if not files:
        return
    have = set(src.schema(files[0]).names)
    for name, params in decision.stages:
        if name != "select_decide":
            continue
        inner = build_stage(params["stage"], params["params"])
        missing = [c for c in (getattr(inner, "measures", ()) or inner.columns) if c not in have]
        if missing:
            raise RecipeError(
                f"select: {src.root} has no {', '.join(missing)} for {params['stage']} (annotated before "
                f"{params['stage']} stored it): annotate the crawl again"
            )
