"""Recipes: YAML files that name stages and their parameters.

```yaml
name: demo
read:                  # optional: WARC reader limits (curate.io.warc.ReadLimits)
  max_payload_bytes: 20971520
stages:                # in order; each item is one registered stage name and its parameters
  - extract: {method: resiliparse}
  - length_filter: {min_words: 50}
  - exact_dedup        # a bare name takes the defaults
output:                # optional: Parquet writing (curate.io.writer.OutputOptions)
  max_shard_bytes: 536870912
plugins: [my_package.my_stages, ./more_stages.py]   # optional: modules that register extra stages
```

Recipes are loaded with a safe YAML loader and validated before any work starts: an unknown stage, an
unknown or mistyped key fails with one error naming it and the file. ``--set stage.key=value`` overrides a
parameter (``stage`` is the stage name, or ``name#2`` for its second occurrence; ``read.`` and ``output.``
address those sections).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from curate.errors import RecipeError
from curate.stage import BaseStage, build_stage, coerce

# libyaml's loader and dumper when PyYAML has them (the same YAML, ~10x faster than the pure-Python ones:
# run.yaml is read and written on every run and select)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)

TOP_KEYS = {"name", "description", "read", "stages", "output", "plugins", "mode"}
MODES = ("filter", "annotate")


@dataclass
class Recipe:
    """A parsed, validated recipe. ``stages`` holds (name, params) in order."""

    name: str
    path: str
    stages: list[tuple[str, dict[str, Any]]]
    read: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    description: str = ""
    mode: str = "filter"  # "annotate": every stage keeps every document and records its decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.path,
            "mode": self.mode,
            "plugins": self.plugins,
            "read": self.read,
            "stages": [{n: p} for n, p in self.stages],
            "output": self.output,
        }

    def build(self) -> list[BaseStage]:
        """Instantiate every stage (validating keys and types)."""
        from curate.annotate import wrap

        import_plugins(self.plugins, self.path)
        out = []
        seen: dict[str, int] = {}
        for i, (name, params) in enumerate(self.stages):
            where = f"{self.path}: stages[{i}] {name}"
            params = dict(params)
            explicit = params.pop("mode", None)
            seen[name] = seen.get(name, 0) + 1
            stat = name if seen[name] == 1 else f"{name}#{seen[name]}"
            out.append(wrap(build_stage(name, params, where=where), explicit or self.mode, stat, where, bool(explicit)))
        return out


def import_plugins(plugins: list[str], where: str) -> None:
    """Import plugin modules: a module name on the path, or a ``.py`` file (resolved when the recipe loads)."""
    import importlib.util
    import sys

    for mod in plugins:
        try:
            if mod.endswith(".py"):
                name = f"curate_plugin_{Path(mod).stem}"
                if name in sys.modules:
                    continue
                spec = importlib.util.spec_from_file_location(name, mod)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {mod}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                _pickle_by_value(module)
            else:
                importlib.import_module(mod)
        except (ImportError, FileNotFoundError) as e:
            raise RecipeError(f"{where}: plugins: cannot import {mod!r}: {e}") from e


def _pickle_by_value(module: Any) -> None:
    """A plugin loaded from a file has no importable name on a worker: ship its functions by value, so a
    global stage's reduce job defined there runs on a worker that has not loaded the recipe yet."""
    try:
        from ray import cloudpickle
    except ImportError:  # pragma: no cover - ray is a dependency
        return
    cloudpickle.register_pickle_by_value(module)


def builtin_recipes() -> dict[str, Path]:
    root = importlib.resources.files("pipelines")
    return {Path(str(p)).stem: Path(str(p)) for p in root.iterdir() if str(p).endswith((".yaml", ".yml"))}


def resolve_recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.exists():
            raise RecipeError(f"recipe file not found: {name_or_path}")
        return p
    recipes = builtin_recipes()
    if name_or_path not in recipes:
        raise RecipeError(f"unknown recipe {name_or_path!r}: not a file and not a built-in ({', '.join(sorted(recipes))})")
    return recipes[name_or_path]


def parse_recipe(data: Any, path: str) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with a 'stages:' list")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise RecipeError(f"{path}: unknown top-level key(s) {sorted(unknown)} (accepted: {sorted(TOP_KEYS)})")
    stages_raw = data.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise RecipeError(f"{path}: 'stages' must be a non-empty list")
    stages: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(stages_raw):
        if isinstance(item, str):
            stages.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            (name, params), = item.items()
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise RecipeError(f"{path}: stages[{i}] {name}: parameters must be a mapping, got {params!r}")
            stages.append((str(name), dict(params)))
        else:
            raise RecipeError(f"{path}: stages[{i}] must be a stage name or a one-key mapping name: {{params}}")
    for key in ("read", "output"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise RecipeError(f"{path}: '{key}' must be a mapping")
    plugins = data.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise RecipeError(f"{path}: 'plugins' must be a list of module names or .py files")
    # A plugin file is relative to the recipe's folder; make it absolute so workers find it.
    plugins = [str((Path(path).parent / p).resolve()) if p.endswith(".py") else p for p in plugins]
    mode = data.get("mode") or "filter"
    if mode not in MODES:
        raise RecipeError(f"{path}: mode must be one of {list(MODES)}, got {mode!r}")
    return Recipe(
        mode=mode,
        name=str(data.get("name") or Path(path).stem),
        path=path,
        stages=stages,
        read=dict(data.get("read") or {}),
        output=dict(data.get("output") or {}),
        plugins=plugins,
        description=str(data.get("description") or ""),
    )


def apply_overrides(recipe: Recipe, overrides: list[str]) -> Recipe:
    """Apply ``stage.key=value`` overrides (values parsed as YAML scalars)."""
    recipe = copy.deepcopy(recipe)
    for ov in overrides:
        if "=" not in ov or "." not in ov.split("=", 1)[0]:
            raise RecipeError(f"--set {ov!r}: expected stage.key=value")
        lhs, raw = ov.split("=", 1)
        target, key = lhs.rsplit(".", 1)
        try:
            value = load_yaml(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        if target in ("read", "output"):
            getattr(recipe, target)[key] = value
            continue
        if target == "recipe" and key == "mode":  # --set recipe.mode=annotate
            if value not in MODES:
                raise RecipeError(f"--set {ov!r}: mode must be one of {list(MODES)}")
            recipe.mode = value
            continue
        name, _, nth = target.partition("#")
        want = int(nth) if nth.isdigit() else 1
        seen = 0
        for i, (sname, params) in enumerate(recipe.stages):
            if sname == name:
                seen += 1
                if seen == want:
                    recipe.stages[i] = (sname, {**params, key: value})
                    break
        else:
            names = ", ".join(n for n, _ in recipe.stages)
            raise RecipeError(f"--set {ov!r}: the recipe has no stage {target!r} (stages: {names})")
    return recipe


def load_recipe(name_or_path: str, overrides: list[str] | None = None, check: bool = True) -> Recipe:
    """Load a recipe by built-in name or YAML path, apply overrides, and (``check``) validate everything."""
    path = resolve_recipe_path(name_or_path)
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: invalid YAML: {e}") from e
    recipe = parse_recipe(data, str(path))
    recipe = apply_overrides(recipe, overrides or [])
    if check:
        validate(recipe)
    return recipe


def validate(recipe: Recipe) -> list[BaseStage]:
    """Build every stage and check the read/output sections; raise RecipeError naming the key."""
    from curate.io.warc import ReadLimits
    from curate.io.writer import OutputOptions

    _check_dataclass(ReadLimits, recipe.read, f"{recipe.path}: read")
    _check_dataclass(OutputOptions, recipe.output, f"{recipe.path}: output")
    return recipe.build()


def _check_dataclass(cls: type, values: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    import typing

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        if k not in fields:
            raise RecipeError(f"{where}: unknown key {k!r} (accepted: {', '.join(fields)})")
        kwargs[k] = coerce(v, hints.get(k), f"{where}.{k}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{where}: {e}") from e


def read_limits(recipe: Recipe) -> Any:
    from curate.io.warc import ReadLimits

    return _check_dataclass(ReadLimits, recipe.read, f"{recipe.path}: read")


def output_options(recipe: Recipe) -> Any:
    from curate.io.writer import OutputOptions

    return _check_dataclass(OutputOptions, recipe.output, f"{recipe.path}: output")


def stage_items(recipe_dict: dict[str, Any]) -> list[tuple[str, dict[str, Any], str | None]]:
    """(name, parameters, mode or None) of each stage of a recipe as run.yaml records it."""
    out = []
    for item in recipe_dict.get("stages") or []:
        (name, params), = (item.items() if isinstance(item, dict) else [(item, {})])
        params = dict(params or {})
        out.append((name, params, params.pop("mode", None)))
    return out
