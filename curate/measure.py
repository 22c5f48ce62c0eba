"""A per-document filter split in two: *measure* (document → named numbers) and *decide* (those numbers and
the parameters → a drop reason, or None to keep), so that the three ways of running it share one decision.

* **filter** (``process``): the rules ask for each measure by name as they go, and it is computed then, so
  a rule after the first failing one is never measured. A rule passes its threshold as ``bound``: a measure
  may then stop early once it knows that rule keeps the page, returning a value that keeps it too (a
  capped count, a proven upper bound), so the decision is the exact one's.
* **annotate** (``annotate``): every measure, exact, is stored on the document under its column name
  (declared and typed in :mod:`curate.schema`), then the decision reads them back.
* **select** (``decide``): the rules read the stored columns, with the new parameters.

A subclass names its ``measures`` (the columns), computes one in ``measure``, writes the decision once in
``decision``, and lists in ``decided_by`` the parameters ``decision`` reads: only those may change in select
(any other one changes what is measured, so the stored columns no longer apply).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

from curate.schema import Document
from curate.stage import Stage

#: ``get(name, bound=None)``: a measure's value, as ``decision`` reads it.
Getter = Callable[..., float]


class MeasuredFilter(Stage):
    """A filter whose decision reads only named measures (see the module docstring)."""

    #: The columns :meth:`measure` computes, in order: what annotate mode stores.
    measures: tuple[str, ...] = ()
    #: The constructor parameters :meth:`decision` reads: the ones ``curate select`` may change.
    decided_by: ClassVar[tuple[str, ...]] = ()

    def measure(self, doc: Document, name: str, bound: float | None = None) -> float:
        """The measure ``name`` of ``doc``; with ``bound``, it may stop early (see the module docstring)."""
        raise NotImplementedError

    def decision(self, get: Getter) -> str | None:
        """The decision from ``get(name, bound=None)``: a drop reason, or None to keep."""
        raise NotImplementedError

    def measurer(self, doc: Document) -> Getter:
        """What filter mode's decision reads: each measure computed when asked (override to prepare what
        every measure of a page shares)."""
        return partial(self.measure, doc)

    def process(self, doc: Document) -> str | None:
        return self.decision(self.measurer(doc))

    def decide(self, doc: Document) -> str | None:
        """The decision from the stored columns (what ``select`` calls)."""
        return self.decision(lambda name, bound=None: doc[name])

    def annotate(self, doc: Document) -> str | None:
        """Store every measure, exact, on ``doc``; return the decision."""
        get = self.measurer(doc)
        for name in self.measures:
            doc[name] = get(name)
        return self.decide(doc)

    def annotate_batch(self, docs: list[Document]) -> list[str | None]:
        return [self.annotate(d) for d in docs]
