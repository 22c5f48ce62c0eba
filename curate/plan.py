"""A recipe compiled into its plan of passes: what the driver runs, in order, and what ``curate plan`` prints.

A **map pass** runs one task per shard: it reads the shard (the input file for the first pass, the previous
map pass's output after that), runs its stages batch by batch — the first one, after a global stage, is
that stage's apply stage — and, when a global stage follows, runs its ``process_batch`` and streams its
``collect`` rows. A **reduce pass** runs one global stage's own parallel jobs over what was collected. The
last map pass writes ``data/``; the others write ``intermediate/sK/``.

The plan is built once, on the driver, from the recipe's stage objects; the tasks carry only the pass
index and rebuild (once per worker process) the same plan from the same recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curate.stage import BaseStage, GlobalStage, Stage


@dataclass
class MapPass:
    """One task per shard: ``stages`` in order (an apply stage first after a global stage), then the
    ``collects`` global stage's process/collect when one follows."""

    index: int
    stages: list[Stage]
    collects: GlobalStage | None
    collects_position: int | None
    applies_position: int | None
    last: bool
    stat_names: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "data" if self.last else f"intermediate/s{self.index}"


@dataclass
class ReducePass:
    """A global stage's reduce jobs; its marker is ``markers/global-PP-NAME.json``."""

    after_map: int
    stage: GlobalStage
    position: int


@dataclass
class Plan:
    stages: list[BaseStage]
    map_passes: list[MapPass]
    reduce_passes: list[ReducePass]

    @property
    def passes(self) -> list[MapPass | ReducePass]:
        """Map and reduce passes interleaved in execution order."""
        out: list[MapPass | ReducePass] = []
        for m in self.map_passes:
            out.append(m)
            out += [r for r in self.reduce_passes if r.after_map == m.index]
        return out

    def describe(self, name: str = "") -> str:
        lines = [
            f"plan{' of ' + name if name else ''}: {len(self.map_passes)} map pass(es) (one task per shard), "
            f"{len(self.reduce_passes)} reduce pass(es)"
        ]
        for pos, s in enumerate(self.stages):
            if s.prepares:
                lines.append(f"  prepare     {s.name} (global/{pos:02d}-{s.name}/): once, on the driver, before map 0")
        for p in self.passes:
            if isinstance(p, MapPass):
                head = "read input" if p.index == 0 else f"read intermediate/s{p.index - 1}"
                names = [head, *p.stat_names]
                if p.collects is not None:
                    names.append(f"{p.collects.name}.prepare → collect")
                lines.append(f"  map {p.index}     " + " → ".join(names) + f"   ⇒ {p.output}/")
            else:
                jobs = p.stage.reduce_jobs or "reduce"
                lines.append(f"  reduce      {p.stage.name} (global/{p.position:02d}-{p.stage.name}/): {jobs}")
        return "\n".join(lines)


def stat_names(stages: list[BaseStage]) -> dict[int, str]:
    """id(stage) → its name in the stats (``name``; ``name#2`` for a second occurrence)."""
    counts: dict[str, int] = {}
    names: dict[int, str] = {}
    for s in stages:
        counts[s.name] = counts.get(s.name, 0) + 1
        names[id(s)] = s.name if counts[s.name] == 1 else f"{s.name}#{counts[s.name]}"
    return names


def compile_plan(stages: list[BaseStage]) -> Plan:
    """Split the recipe's stages at its global stages into map and reduce passes."""
    names = stat_names(stages)
    maps: list[MapPass] = []
    reduces: list[ReducePass] = []
    cur: list[Stage] = []
    cur_names: list[str] = []
    applies: int | None = None
    for pos, s in enumerate(stages):
        if isinstance(s, GlobalStage):
            k = len(maps)
            maps.append(MapPass(k, cur, s, pos, applies, last=False, stat_names=cur_names))
            reduces.append(ReducePass(k, s, pos))
            applier = s.applier()
            cur, cur_names, applies = [applier], [names[id(s)]], pos
        else:
            cur.append(s)  # type: ignore[arg-type]
            cur_names.append(names[id(s)])
    maps.append(MapPass(len(maps), cur, None, None, applies, last=True, stat_names=cur_names))
    return Plan(stages, maps, reduces)
