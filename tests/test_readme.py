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


def test_the_service_walk_through_is_what_the_api_answers(tmp_path, monkeypatch, capsys, registry):
    """The curl lines of "Run it as a service", replayed on the app: each
    line's comment is its status and what it returns."""
    import json
    import shlex

    from cinflow.cli import main
    from cinflow.service.app import create_app
    from service_helpers import TestClient

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Run it as a service", 1)[1].split("\n## ", 1)[0]
    setup = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    create = next(line for line in setup.splitlines() if "tokens create" in line)
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(create, comments=True)[1:]  # without .venv/bin/cinflow
    capsys.readouterr()
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    walk = next(block for block in re.findall(r"```sh\n(.*?)```", section, re.S) if "api() {" in block)
    calls = [line for line in walk.splitlines() if line.startswith("api ")]
    assert len(calls) >= 10
    app = create_app(tmp_path / argv[argv.index("--db") + 1], registry)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    for line in calls:
        args = shlex.split(line, comments=True)[1:]
        expected = line.rsplit("   # ", 1)[1]
        status, _, rest = expected.partition(" ")
        if "-d" in args:
            r = client.post(args[0], content=args[args.index("-d") + 1].encode(),
                            headers={**headers, "content-type": "application/json"})
        else:
            r = client.get(args[0], headers=headers)
        assert r.status_code == int(status), (line, r.text)
        body = r.json()
        if rest.startswith("version "):
            assert body["version"] == int(rest.split()[1].rstrip(":")), line
        if "refused by " in rest:
            last = body["history"][-1]
            assert not last["accepted"] and last["reasons"][0]["rule"] == rest.split("refused by ")[1].split(",")[0]
        if rest.startswith("{"):
            assert body == json.loads(rest), line
        if r.status_code >= 400:
            assert body == {"error": rest}, line
        due = re.fullmatch(r"(\w+) due (\S+), (\w+)", rest)
        if due:
            assert [(d["name"], d["due"], d["status"]) for d in body] == [due.groups()], line
    app.state.store.close()
