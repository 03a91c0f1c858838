"""The README's embedding example runs as written."""

import re
from pathlib import Path


def test_embedding_example_runs(tmp_path, monkeypatch, capsys):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Embed it", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "False kent.initial_chair"
    assert out[1].startswith("initial_cin_meeting 2026-02-27 overdue kent.initial_meeting")
    assert (tmp_path / "cases.db").exists()
