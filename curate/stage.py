"""The stage contract and the registry.

A **per-document stage** is a small class whose constructor takes its typed parameters (these are the YAML
keys of a recipe) and whose :meth:`Stage.process` either transforms a document in place and returns
``None`` (kept) or returns a stable, prefixed reason string (``"gopher_short_doc"``) to drop it. Stages that
can do better on a batch (a fastText model predicting 1,000 texts at once) override
:meth:`Stage.process_batch`. Stages that need a model load it lazily in :meth:`Stage.setup`, which the engine
calls once per worker process (see :func:`worker_cache`), never once per document or shard.

A **global stage** (exact dedup, MinHash, percentile thresholds) sees the whole dataset: it is a
:class:`GlobalStage` with a per-shard ``collect`` hook that runs inside the fused per-shard task, a
``reduce`` step split into parallel, resumable passes, and a per-shard ``apply`` that keeps or drops rows in
the next pass over the shards.

Stages are registered under stable, versioned names with :func:`register`; a recipe names them, so a recipe
keeps meaning the same thing when a new version of a stage is added beside the old one.
"""

from __future__ import annotations

import inspect
import threading
import types
import typing
from collections.abc import Callable
from pathlib import Path
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

    def params(self) -> dict[str, Any]:
        """The constructor parameters as given (for run.yaml and ``curate stages``)."""
        return dict(getattr(self, "_params", {}))

    def setup(self) -> None:
        """Load models or lists. Called once per worker process before the first document."""


class Stage(BaseStage):
    """A per-document stage: keep (maybe after modifying the document) or drop with a reason."""

    def process(self, doc: Document) -> str | None:
        """Modify ``doc`` in place and return None to keep it, or return a drop reason string."""
        raise NotImplementedError

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        """One result per document, in order. Override when batching is cheaper (models)."""
        return [self.process(d) for d in docs]

    # Notebook helpers: run a stage on one text without Ray.
    def __call__(self, doc: Document | str) -> str | None:
        ensure_setup(self)
        if isinstance(doc, str):
            doc = {"id": "0", "text": doc}
        return self.process_batch([doc])[0]


class GlobalStage(BaseStage):
    """A stage over the whole dataset, in passes.

    The engine runs, in order:

    1. ``process_batch(docs)`` inside each per-shard task of the segment before it, like a per-document
       stage (e.g. compute a score or a signature; return reasons to drop early); default keeps all;
    2. ``collect(docs)`` in the same task, once per batch of documents kept so far: returns a
       ``pyarrow.Table`` of rows to keep for the global passes (e.g. id + signature, id + hash). The engine
       streams them to ``workdir/collect/part-NNNNN.parquet`` (atomically, with the shard's marker);
       ``workdir`` is a folder of the stage's own inside the run directory;
    3. ``reduce(workdir, shards, runner)``: the global passes; each may submit parallel Ray tasks through
       ``runner.map(fn, [args, ...])`` (``fn(*args)`` as parallel Ray tasks, results in order;
       ``runner.num_workers`` says how many run at once) and must be resumable: write each output to a
       temporary name, rename it, and skip work whose output exists;
    4. ``apply(docs, shard, workdir)`` inside each per-shard task of the next segment: one result per
       document, ``None`` to keep or a reason to drop. A dedup stage sets ``doc["_duplicate_of"]`` on a
       dropped document to the id kept in its place; the engine writes it to ``rejected/``.
    """

    def process_batch(self, docs: list[Document]) -> list[str | None]:
        return [None] * len(docs)

    def collect(self, docs: list[Document]) -> Any:
        """Rows for the global passes from one batch of kept documents (a ``pyarrow.Table``)."""
        raise NotImplementedError

    def reduce(self, workdir: Path, shards: list[int], runner: Any) -> dict[str, Any]:
        """Run the global passes; return a small JSON-able summary for stats and the report."""
        raise NotImplementedError

    def apply(self, docs: list[Document], shard: int, workdir: Path) -> list[str | None]:
        raise NotImplementedError


# --- per-process model cache -------------------------------------------------------------------------

_SETUP_LOCK = threading.Lock()
_WORKER_CACHE: dict[Any, Any] = {}


def worker_cache(key: Any, factory: Callable[[], Any]) -> Any:
    """Return the object cached under ``key`` in this process, creating it once with ``factory``.

    Ray reuses worker processes across tasks, so a model loaded here is loaded once per worker, not once
    per shard.
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
    """

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"stage name {name!r} registered twice ({_REGISTRY[name]} and {cls})")
        cls.name = name
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        orig_init = cls.__init__

        def __init__(self, *args: Any, **kwargs: Any) -> None:  # record params for run.yaml
            if type(self) is cls:
                bound = inspect.signature(orig_init).bind(self, *args, **kwargs)
                bound.apply_defaults()
                self._params = {k: v for k, v in bound.arguments.items() if k != "self"}
            orig_init(self, *args, **kwargs)

        __init__.__wrapped__ = orig_init  # type: ignore[attr-defined]
        cls.__init__ = __init__
        return cls

    return deco


def _load_builtin_stages() -> None:
    # Importing the modules registers their stages.
    import curate.extract  # noqa: F401
    import curate.stages_basic  # noqa: F401

    try:
        import filters  # noqa: F401  (filters/__init__.py imports every family)
    except ImportError as e:  # pragma: no cover - a broken install
        raise RuntimeError(f"cannot import the filter library: {e}") from e
    try:
        import curate.dedup  # noqa: F401
    except ImportError:  # the dedup package may be absent in a minimal build
        pass


def registry() -> dict[str, type[BaseStage]]:
    _load_builtin_stages()
    return dict(_REGISTRY)


def get_stage_class(name: str) -> type[BaseStage]:
    reg = registry()
    name = _ALIASES.get(name, name)
    if name not in reg:
        raise KeyError(name)
    return reg[name]


def stage_parameters(cls: type[BaseStage]) -> dict[str, inspect.Parameter]:
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    sig = inspect.signature(init)
    return {n: p for n, p in list(sig.parameters.items())[1:] if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}


def stage_hints(cls: type[BaseStage]) -> dict[str, Any]:
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        return typing.get_type_hints(init)
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
        known = ", ".join(sorted(registry()))
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
        return cls(**kwargs)
    except RecipeError:
        raise
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise RecipeError(f"{where}: {e}") from e
