"""The stage contract and the registry.

A **per-document stage** is a small class whose constructor takes its typed parameters (these are the YAML
keys of a recipe) and whose :meth:`Stage.process` either transforms a document in place and returns
``None`` (kept) or returns a stable, prefixed reason string (``"gopher_short_doc"``) to drop it. Stages that
can do better on a batch (a fastText model predicting 1,000 texts at once) override
:meth:`Stage.process_batch`. Stages that need a model load it lazily in :meth:`Stage.setup`, which the engine
calls once per worker process and only for the stages of the pass it runs, never once per document or shard.

A **global stage** (exact dedup, MinHash, percentile thresholds) sees the whole dataset. It declares its
passes (compiled into the run's plan by :mod:`curate.plan`):

1. in the map pass that ends at it, ``process_batch`` (like a per-document stage) and ``collect`` (rows
   for the reduce, streamed by the engine to ``global/PP-NAME/collect/part-NNNNN.parquet``);
2. its reduce pass, ``reduce(sdir, shards, executor)``: its own parallel jobs over the collected rows;
3. the stage that applies its decision at the head of the next map pass, ``applier()``: an ordinary
   per-document stage (its own stats), bound to the shard it runs on.

Stages are registered under stable, versioned names with :func:`register`; the built-in ones are listed in
:mod:`curate.catalog`, so a recipe keeps meaning the same thing when a new version is added beside the old.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar

from curate.errors import RecipeError
from curate.schema import Document

_REGISTRY: dict[str, type[BaseStage]] = {}
_ALIASES: dict[str, str] = {}


class BaseStage:
    """What every stage has: a registered name, a prefix for its drop reasons, declared output columns."""

    name: ClassVar[str] = ""
    #: Columns this stage writes on the documents it keeps (declared in curate.schema when typed).
    columns: ClassVar[tuple[str, ...]] = ()
    #: Python packages the stage imports (module names), checked on the driver before any task starts.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Whether the stage reads ``text`` (a WARC record has none before ``extract``).
    needs_text: ClassVar[bool] = True
    #: Whether the stage may change the documents it is given (the engine then keeps copies of a batch, to
    #: retry it document by document on unchanged ones if it raises). A stage that only reads says False.
    mutates: ClassVar[bool] = True
    _params: dict[str, Any]

    def params(self) -> dict[str, Any]:
        """The constructor parameters, defaults included (for run.yaml and ``curate stages``)."""
        return dict(getattr(self, "_params", {}))

    def requirements(self) -> tuple[str, ...]:
        """Modules this stage, with its parameters, imports at work time (default: ``requires``)."""
        return tuple(self.requires)

    def setup(self) -> None:
        """Load models or lists. Called once per worker process before the first document."""

    #: Whether the stage builds something once on the driver before any pass (:meth:`prepare`).
    prepares: ClassVar[bool] = False

    def prepare(self, folder: Any) -> dict[str, Any]:
        """On the driver, once per run, before the first pass: build what every worker needs (an index of
        evaluation n-grams, a word list) into ``folder`` (the stage's own :class:`~curate.rundir.StageDir`,
        on any filesystem). Returns a small summary. Only called when ``prepares`` is true."""
        return {}

    def use_prepared(self, folder: Any) -> None:
        """In each worker, before :meth:`setup`: where :meth:`prepare` put its files (load them in setup)."""

    def start_shard(self) -> None:
        """Called before a shard's first batch: reset state that must not carry from one shard to the next
        (a shard's output must not depend on which shards the same worker ran before)."""


class Stage(BaseStage):
    """A per-document stage: keep (maybe after modifying the document) or drop with a reason."""

    def process(self, doc: Document) -> str | None:
        """Modify ``doc`` in place and return None to keep it, or return a drop reason string."""
        raise NotImplementedError

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        """One result per document, in order. Override when batching is cheaper (models)."""
        return [self.process(d) for d in docs]

    # Notebook helper: run a stage on one text, one document or a list of them, without Ray.
    def __call__(self, doc: Document | str | list) -> Any:
        ensure_setup(self)
        if isinstance(doc, list):
            docs = [{"id": str(i), "text": d} if isinstance(d, str) else d for i, d in enumerate(doc)]
            return self.process_batch(docs)
        if isinstance(doc, str):
            doc = {"id": "0", "text": doc}
        return self.process_batch([doc])[0]


class GlobalStage(BaseStage):
    """A stage over the whole dataset, in passes (see the module docstring).

    Subclasses implement ``collect``, ``reduce`` and ``apply``; ``process_batch`` defaults to keeping all.
    ``reduce`` receives the stage's own :class:`curate.rundir.StageDir` (local disk or object storage: read
    and write only through it) and an executor whose ``map(fn, [args, ...])`` runs ``fn(*args)`` as parallel
    tasks (``executor.num_workers`` of them at once). Every reduce output is written atomically and skipped
    when it exists, so a reduce that dies half-way resumes where it stopped.
    """

    #: One line for the printed plan: what the reduce pass does.
    reduce_jobs: ClassVar[str] = ""

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        return [None] * len(docs)

    def collect(self, docs: list[Document]) -> Any:
        """Rows for the reduce pass from one batch of kept documents (a ``pyarrow.Table``)."""
        raise NotImplementedError

    def reduce(self, sdir: Any, shards: list[int], executor: Any) -> dict[str, Any]:
        """Run the reduce jobs; return a small JSON-able summary for stats and the report."""
        raise NotImplementedError

    def apply(self, docs: list[Document], shard: int, sdir: Any) -> list[str | None]:
        """The decision for a batch of ``shard``: one result per document (None keeps). A dedup stage sets
        ``doc["_duplicate_of"]`` on a dropped document to the id kept in its place."""
        raise NotImplementedError

    def applier(self) -> ApplyStage:
        """The per-document stage that heads the next map pass."""
        return ApplyStage(self)

    def __call__(self, docs: Document | str | list) -> Any:
        """Run this stage alone, in this process, on a text, a document or a list of them (notebooks).

        Returns the result per document (None kept, else the reason), as for a per-document stage; documents
        given as dicts receive the stage's columns (``quality_score``, ``content_hash``, …).
        """
        from curate.local import recipe_of, run_documents

        items = docs if isinstance(docs, list) else [docs]
        dicts = [{"id": str(i), "text": d} if isinstance(d, str) else d for i, d in enumerate(items)]
        inner = [{**d, "id": f"{i:012d}"} for i, d in enumerate(dicts)]
        out = run_documents(recipe_of([self]), inner)
        reasons: list[str | None] = [None] * len(items)
        for r in out.rejected:
            reasons[int(r["id"])] = r["reason"]
        for row in out.kept:
            for col in self.columns:
                dicts[int(row["id"])][col] = row.get(col)
        return reasons if isinstance(docs, list) else reasons[0]


class ApplyStage(Stage):
    """Applies a global stage's decision: an ordinary stage at the head of a map pass, bound per shard."""

    def __init__(self, owner: GlobalStage) -> None:
        self.owner = owner
        self.columns = owner.columns  # type: ignore[misc]
        self._sdir: Any = None
        self._shard = -1

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.owner.name

    def setup(self) -> None:
        ensure_setup(self.owner)

    def bind(self, sdir: Any, shard: int) -> None:
        self._sdir, self._shard = sdir, shard

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        return self.owner.apply(docs, self._shard, self._sdir)

    @property
    def columnar(self) -> bool:
        """Whether the owner decides on Arrow columns too (``apply_table``; the engine may then run a pass
        made of this stage alone without building documents)."""
        return callable(getattr(self.owner, "apply_table", None))

    def apply_table(self, table: Any) -> Any:
        """The owner's ``apply_table(table, shard, sdir)``: a string array, the reason per row (null: kept)."""
        return self.owner.apply_table(table, self._shard, self._sdir)


# --- per-process model cache -------------------------------------------------------------------------

_SETUP_LOCK = threading.Lock()
_WORKER_CACHE: dict[Any, Any] = {}


def worker_cache(key: Any, factory: Callable[[], Any]) -> Any:
    """Return the object cached under ``key`` in this process, creating it once with ``factory``.

    Ray reuses worker processes across tasks, so a model loaded here is loaded once per worker, not once
    per shard. The one per-process cache: models, word lists and built recipes all live here.
    """
    with _SETUP_LOCK:
        if key not in _WORKER_CACHE:
            _WORKER_CACHE[key] = factory()
        return _WORKER_CACHE[key]


def ensure_setup(stage: BaseStage) -> None:
    if not getattr(stage, "_is_setup", False):
        stage.setup()
        stage._is_setup = True


# --- registry --------------------------------------------------------------------------------------


def register(name: str, *aliases: str) -> Callable[[type], type]:
    """Class decorator: register a stage under a stable name (``"gopher_quality"``), plus aliases.

    Give a new behaviour a new name (``"gopher_quality_v2"``) rather than changing what a name means.
    Registering imports nothing: the built-in stages are listed in :mod:`curate.catalog`.
    """

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"stage name {name!r} registered twice ({_REGISTRY[name]} and {cls})")
        if not isinstance(cls.__dict__.get("name"), property):  # a stand-in may report another stage's name
            cls.name = name
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        return cls

    return deco


class StageImportError(RecipeError):
    """A stage's module failed to import (a missing dependency, a broken install)."""


def _import_builtin(name: str) -> None:
    from curate.catalog import BUILTIN_STAGES, install_hint

    module = BUILTIN_STAGES.get(name)
    if module is None or name in _REGISTRY:
        return
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise StageImportError(
            f"stage {name!r} cannot be loaded: importing {module} failed: {e}{install_hint(e)}"
        ) from e


def check_requirements(stages: list[BaseStage], where: str = "") -> None:
    """Import what every stage needs, on the driver, before any task starts: one error with the fix."""
    from curate.catalog import install_hint

    for s in stages:
        for module in s.requirements():
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise StageImportError(
                    f"{where}stage {s.name!r} needs {module!r}, which cannot be imported: {e}{install_hint(e)}"
                ) from e


def registry(errors: dict[str, str] | None = None) -> dict[str, type[BaseStage]]:
    """Every registered stage, the built-in catalogue imported; import failures go to ``errors`` (or raise)."""
    from curate.catalog import BUILTIN_STAGES

    for name in BUILTIN_STAGES:
        try:
            _import_builtin(name)
        except StageImportError as e:
            if errors is None:
                raise
            errors[name] = str(e)
    return dict(_REGISTRY)


def get_stage_class(name: str) -> type[BaseStage]:
    name = _ALIASES.get(name, name)
    _import_builtin(name)
    if name not in _REGISTRY:
        raise KeyError(name)
    return _REGISTRY[name]


@functools.cache  # a class's signature and hints do not change; select builds each stage several times
def stage_parameters(cls: type[BaseStage]) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return {n: p for n, p in list(sig.parameters.items())[1:] if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}


@functools.cache
def stage_hints(cls: type[BaseStage]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:
        return {}


def _type_name(t: Any) -> str:
    if t is inspect.Parameter.empty:
        return "any"
    if typing.get_origin(t) is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in typing.get_args(t))}]"
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def describe_stage(cls: type[BaseStage]) -> list[tuple[str, str, Any]]:
    """(parameter, type, default) for each constructor parameter."""
    hints = stage_hints(cls)
    out = []
    for pname, p in stage_parameters(cls).items():
        default = "(required)" if p.default is inspect.Parameter.empty else p.default
        out.append((pname, _type_name(hints.get(pname, p.annotation)), default))
    return out


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Check (and gently coerce) a recipe value against a type hint; raise RecipeError naming ``where``."""
    if hint is inspect.Parameter.empty or hint is Any:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, where)
            except RecipeError as e:
                errors.append(str(e))
        raise RecipeError(f"{where}: {value!r} is not a {_type_name(hint)}")
    if origin is typing.Literal:
        if value not in args:
            raise RecipeError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, where) for v in value]
        return (origin or hint)(items) if (origin or hint) is not list else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise RecipeError(f"{where}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise RecipeError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise RecipeError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise RecipeError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise RecipeError(f"{where}: expected a string, got {value!r}")
    return value


def build_stage(name: str, params: dict[str, Any] | None = None, where: str = "") -> BaseStage:
    """Build a registered stage by name with parameters checked against its constructor's types.

    >>> build_stage("length_filter", {"min_words": 50})
    """
    params = dict(params or {})
    where = where or name
    try:
        cls = get_stage_class(name)
    except KeyError:
        known = ", ".join(sorted(set(registry({})) | set(_catalogue())))
        raise RecipeError(f"{where}: unknown stage {name!r} (known stages: {known})") from None
    accepted = stage_parameters(cls)
    hints = stage_hints(cls)
    kwargs = {}
    for key, value in params.items():
        if key not in accepted:
            raise RecipeError(
                f"{where}: unknown key {key!r} for stage {name!r} (accepted: {', '.join(accepted) or 'none'})"
            )
        kwargs[key] = coerce(value, hints.get(key, accepted[key].annotation), f"{where}.{key}")
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise RecipeError(f"{where}: stage {name!r} needs key(s) {', '.join(missing)}")
    try:
        stage = cls(**kwargs)
    except RecipeError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise RecipeError(f"{where}: {e}") from e
    defaults = {k: p.default for k, p in accepted.items() if p.default is not inspect.Parameter.empty}
    stage._params = {**defaults, **kwargs}
    return stage


def _catalogue() -> list[str]:
    from curate.catalog import BUILTIN_STAGES

    return list(BUILTIN_STAGES)
