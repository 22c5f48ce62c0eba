"""Build every registered stage with its default parameters (or the minimum it needs) and import what each
needs at work time: run by .ci/run inside a fresh venv installed with the interpreter's bundled pip."""

from __future__ import annotations

import sys

from curate.stage import build_stage, check_requirements, registry

NEEDS = {"quality": {"model": "default"}}
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
