"""The README's Python section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_section_runs(capsys):
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("('en', 0.9")
    assert out[1] == "gopher_short_doc" and out[2] == "None"
    assert "pii_email" in out[3] and "pii_phone" in out[3]
    assert 0.0 <= float(out[4]) <= 1.0
    assert out[5] == "None en"
    assert out[6] == "['lang_not_allowed', None]"
    assert out[7] == "['a b c d e f g h', 'something else entirely']"
    assert out[8] == "['Foxes eat mice.', 'Owls eat mice too.']"
    assert out[9] == "2 [('2', 'length_too_few_words')]"
    assert out[10].startswith("plan of demo:")
