from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.plan import compile_plan
from curate.recipe import load_recipe
from curate.stage import GlobalStage, build_stage, describe_stage, registry


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return str(p)


def test_builtin_quickstart_recipe_loads():
    r = load_recipe("quickstart")
    assert [n for n, _ in r.stages] == ["extract", "length_filter"]
    stages = r.build()
    assert stages[0].name == "extract"


def test_unknown_stage_names_key_and_file(tmp_path):
    path = write(tmp_path, "stages:\n  - extract\n  - no_such_stage: {x: 1}\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    assert "no_such_stage" in str(e.value) and path in str(e.value)


def test_unknown_key_names_key(tmp_path):
    path = write(tmp_path, "stages:\n  - length_filter: {min_wrds: 5}\n")
    with pytest.raises(RecipeError, match="min_wrds"):
        load_recipe(path)


def test_mistyped_value_names_key(tmp_path):
    path = write(tmp_path, "stages:\n  - length_filter: {min_words: many}\n")
    with pytest.raises(RecipeError, match=r"length_filter\.min_words"):
        load_recipe(path)


def test_invalid_value_is_a_recipe_error(tmp_path):
    path = write(tmp_path, "stages:\n  - length_filter: {min_words: 10, max_words: 5}\n")
    with pytest.raises(RecipeError, match="max_words"):
        load_recipe(path)


def test_unknown_top_level_and_read_keys(tmp_path):
    with pytest.raises(RecipeError, match="stagse"):
        load_recipe(write(tmp_path, "stagse: []\n"))
    with pytest.raises(RecipeError, match="max_paylod"):
        load_recipe(write(tmp_path, "read: {max_paylod: 3}\nstages: [extract]\n"))


def test_set_overrides_and_errors(tmp_path):
    r = load_recipe("quickstart", ["length_filter.min_words=7", "extract.method=trafilatura"])
    assert dict(r.stages)["length_filter"]["min_words"] == 7
    assert r.build()[0].method == "trafilatura"
    with pytest.raises(RecipeError, match="nostage"):
        load_recipe("quickstart", ["nostage.x=1"])
    with pytest.raises(RecipeError, match="method"):
        load_recipe("quickstart", ["extract.method=lynx"])


def test_yaml_cannot_run_code(tmp_path):
    path = write(tmp_path, "stages: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(path)


def test_plugin_module_must_import(tmp_path):
    with pytest.raises(RecipeError, match="plugins"):
        load_recipe(write(tmp_path, "plugins: [no_such_module_xyz]\nstages: [extract]\n"))


def test_registry_and_describe():
    reg = registry()
    assert {"extract", "passthrough", "length_filter"} <= set(reg)
    params = {p for p, _, _ in describe_stage(reg["length_filter"])}
    assert params == {"min_chars", "max_chars", "min_words", "max_words"}


def test_stage_on_one_text_without_ray():
    f = build_stage("length_filter", {"min_words": 3})
    assert f("two words") == "length_too_few_words"
    assert f("now three words") is None
    assert build_stage("passthrough")("anything") is None


def test_plan_splits_at_global_stages_into_map_and_reduce_passes():
    class G(GlobalStage):
        name = "g"

    a, b, g = build_stage("passthrough"), build_stage("length_filter"), G()
    plan = compile_plan([a, g, b])
    m0, m1 = plan.map_passes
    assert m0.stages == [a] and m0.collects is g and not m0.last and m0.output == "intermediate/s0"
    assert m1.stages[0].owner is g and m1.stages[1:] == [b] and m1.last and m1.output == "data"
    assert [type(p).__name__ for p in plan.passes] == ["MapPass", "ReducePass", "MapPass"]
    assert len(compile_plan([a, b]).map_passes) == 1
    trailing = compile_plan([a, g])  # a trailing global stage still gets its apply pass
    assert [len(m.stages) for m in trailing.map_passes] == [1, 1]


def test_plan_of_a_builtin_recipe_is_printed():
    from curate.runner import load_plan

    recipe, plan = load_plan("demo")
    text = plan.describe(recipe.name)
    assert "3 reduce pass(es)" in text and "map 3" in text
    assert "reduce      minhash (global/08-minhash/)" in text
    assert "map 1     read intermediate/s0 → exact_dedup → minhash.prepare → collect" in text
