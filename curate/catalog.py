"""The catalogue of built-in stages: registered name → the module that defines it.

Explicit on purpose: a recipe's stage name leads here in one grep, a module is imported only when one of its
stages is used (or listed), and a module whose import fails is reported with its own error (a missing
package, with the ``pip install`` that fixes it) instead of as an unknown stage. Plugins register their
stages when the recipe's ``plugins:`` are imported.
"""

from __future__ import annotations

BUILTIN_STAGES: dict[str, str] = {
    "passthrough": "curate.stages_basic",
    "length_filter": "curate.stages_basic",
    "extract": "curate.extract",
    "url_filter": "filters.url",
    "language": "filters.language",
    "gopher_quality": "filters.gopher_quality",
    "gopher_repetition": "filters.gopher_repetition",
    "refinedweb_preclean": "filters.refinedweb",
    "refinedweb_line_modifiers": "filters.refinedweb",
    "c4": "filters.c4",
    "fineweb_quality": "filters.fineweb",
    "pii": "filters.pii",
    "quality": "filters.quality",
    "exact_dedup": "curate.dedup.exact",
    "line_dedup": "curate.dedup.exact",
    "minhash": "curate.dedup.minhash",
    "paragraph_dedup": "curate.dedup.paragraph",
    "classifier": "filters.classifier",
    "decontaminate": "filters.decontaminate",
    # the stand-ins `curate select` compiles an annotated filter into (they appear in a select's run.yaml)
    "select_decide": "curate.annotate",
    "select_replay": "curate.annotate",
}

# Import name → what to install, for the hint in the error of a stage whose module fails to import.
PIP_NAMES: dict[str, str] = {
    "lxml.html.clean": "lxml_html_clean",
    "lxml_html_clean": "lxml_html_clean",
    "fasttext": "fasttext-numpy2-wheel",
    "resiliparse": "resiliparse",
    "fastwarc": "fastwarc",
    "trafilatura": "trafilatura",
    "s3fs": "'curate[s3]'",
    "spacy": "spacy",
}


def install_hint(err: ImportError) -> str:
    missing = getattr(err, "name", None) or ""
    text = str(err)
    for mod, pkg in PIP_NAMES.items():
        if missing == mod or missing.startswith(mod + ".") or mod in text:
            return f" (pip install {pkg})"
    return f" (pip install {missing.split('.')[0]})" if missing else ""
