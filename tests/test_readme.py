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
    assert out[-3:] == ["cms:jsmith 2032-06-12", "['needs_chair', 'needs_exception']", "True service_manager"]
    assert (tmp_path / "embedded.db").exists()


def test_readme_diagram_is_what_cinflow_draws(registry):
    from cinflow.machine import diagram

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```mermaid\n(.*?)```", readme, re.S).group(1)
    assert block.rstrip("\n") == diagram(registry["wirral"])


def test_ci_installs_what_the_readme_installs():
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    install = re.search(r"pip install (-e '\.\[test\]' -e plugins/\S+)", readme).group(1)
    assert f"pip install -q {install}" in ci
    assert ".venv/bin/python -m pytest\n" in readme and ci.rstrip().endswith(".venv/bin/python -m pytest")
