from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.recipe import load_recipe, segments
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


def test_segments_split_at_global_stages():
    class G(GlobalStage):
        pass

    a, b, g = build_stage("passthrough"), build_stage("length_filter"), G()
    segs = segments([a, g, b])
    assert segs[0] == ([a], g) and segs[1] == ([b], None)
    assert segments([a, b]) == [([a, b], None)]
    assert segments([a, g]) == [([a], g), ([], None)]  # a trailing global stage still gets its apply pass
