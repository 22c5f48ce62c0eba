"""Build every registered stage with its default parameters (or the minimum it needs) and import what each
needs at work time: run by .ci/run inside a fresh venv installed with the interpreter's bundled pip."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import filters
from curate.stage import build_stage, check_requirements, registry

# The stages that have required parameters get the smallest real ones: the shipped classifier, one eval file.
_evals = Path(tempfile.mkdtemp()) / "eval.jsonl"
_evals.write_text('{"question": "What is the capital of France, the country in western Europe?", "answer": "Paris"}\n')
_model = str(Path(filters.__file__).parent / "data" / "quality-default.ftz")
NEEDS = {
    "quality": {"model": "default"},
    "classifier": {"model": _model, "label": "__label__hq"},
    "decontaminate": {"benchmarks": {"probe": {"path": str(_evals), "fields": ["question", "answer"]}}},
    "select_decide": {"stage": "gopher_quality"},
    "select_replay": {"stage": "pii", "column": "pii__reason"},
}
EXTRA = [("extract", {"method": "trafilatura"}), ("extract", {"method": "resiliparse"})]

errors: dict[str, str] = {}
reg = registry(errors)
built = []
for name in sorted(reg):
    try:
        built.append(build_stage(name, NEEDS.get(name, {})))
    except Exception as e:  # noqa: BLE001 - report every stage, then fail
        errors[name] = f"{type(e).__name__}: {e}"
for name, params in EXTRA:
    built.append(build_stage(name, params))
try:
    check_requirements(built)
    import trafilatura  # noqa: F401  (the import that pip 23 broke: lxml.html.clean)
except Exception as e:  # noqa: BLE001
    errors["requirements"] = str(e)
for name, err in sorted(errors.items()):
    print(f"stage {name}: {err}", file=sys.stderr)
print(f"{len(built)} stages built, {len(errors)} errors")
sys.exit(1 if errors else 0)
