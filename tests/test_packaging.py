"""What a user installing cinflow from a wheel gets: the licence, the typing
marker, the shipped examples, the commands and honest metadata.

The sdist is built from a copy of the checkout and the wheel from that sdist
(as ``python -m build`` does), so a file missing from the sdist fails here; the
wheel is installed, not editable, into a temporary directory."""

import configparser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import cinflow
from cinflow.cli import main

ROOT = Path(__file__).parent.parent
SKIP = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".hypothesis", "*.db", "*.db-*", "tests", "bench", "plugins")


def sh(*args, cwd=None, env=None):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def build(hook, source, out):
    """Call setuptools' PEP 517 hook (the venv's setuptools: no build isolation)."""
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    return out / sh(sys.executable, "-c", code, cwd=source).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    work = tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, work / "checkout", ignore=SKIP)
    sdist = build("build_sdist", work / "checkout", work)
    with tarfile.open(sdist) as tar:
        tar.extractall(work / "unpacked", filter="data")
    wheel = build("build_wheel", work / "unpacked" / sdist.name.removesuffix(".tar.gz"), work)
    return sdist, wheel


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """The wheel installed (not editable) on its own; its dependencies come from the test venv."""
    site = tmp_path_factory.mktemp("site")
    sh(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(dist[1]))
    env = {**os.environ, "PYTHONPATH": str(site)}
    return site, env


def wheel_text(wheel, name):
    with zipfile.ZipFile(wheel) as z:
        return z.read(name).decode()


def test_wheel_holds_the_licence_the_typing_marker_and_the_examples(dist):
    sdist, wheel = dist
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    info = f"cinflow-{cinflow.__version__}.dist-info"
    assert wheel_text(wheel, f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert {"cinflow/py.typed", "cinflow/__main__.py"} <= names
    shipped = {f"cinflow/examples/{p.name}" for p in (ROOT / "examples").glob("*.yaml")}
    assert "cinflow/examples/kent-cin-plan.yaml" in shipped and shipped <= names
    # Only cinflow's own packages: no tests, no benchmarks, no plugins.
    assert {n.split("/")[0] for n in names} == {"cinflow", "cinflow_policies", info}
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"LICENSE", "cinflow/py.typed", "examples/kent-cin-plan.yaml"} <= members


def test_wheel_metadata(dist):
    wheel = dist[1]
    meta = Parser().parsestr(wheel_text(wheel, f"cinflow-{cinflow.__version__}.dist-info/METADATA"))
    assert meta["Version"] == cinflow.__version__
    assert meta["License-Expression"] == "Apache-2.0" and meta["License-File"] == "LICENSE"
    classifiers = meta.get_all("Classifier")
    for c in ("Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
              "Programming Language :: Python :: 3.13", "Typing :: Typed"):
        assert c in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Intended Audience ::") for c in classifiers)
    assert any(c.startswith("Topic ::") for c in classifiers)
    assert "child in need" in meta["Keywords"].split(",")
    assert meta["Requires-Python"] == ">=3.11"
    points = configparser.ConfigParser()
    points.read_string(wheel_text(wheel, f"cinflow-{cinflow.__version__}.dist-info/entry_points.txt"))
    assert points["console_scripts"]["cinflow"] == "cinflow.cli:entry"
    assert points["cinflow"]["england"] == "cinflow.national" and points["cinflow"]["kent"] == "cinflow_policies.kent"


def test_the_version_has_one_source():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cinflow.__version__"}


def test_plugins_pin_a_compatible_cinflow():
    for pyproject in (ROOT / "plugins" / "template" / "pyproject.toml",
                      ROOT / "plugins" / "cinflow-example-shire" / "pyproject.toml"):
        assert "cinflow>=0.1,<0.2" in tomllib.loads(pyproject.read_text())["project"]["dependencies"]


def test_installed_wheel_runs_the_readme_example_outside_the_checkout(installed, tmp_path):
    site, env = installed
    where = sh(sys.executable, "-c", "import cinflow; print(cinflow.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(site)
    assert sh(sys.executable, "-m", "cinflow", "--version", cwd=tmp_path, env=env).strip() == \
        f"cinflow, version {cinflow.__version__}"
    script = site / "bin" / "cinflow"
    listed = sh(str(script), "examples", cwd=tmp_path, env=env)
    assert listed.startswith("cheshire-west-and-chester-caf ") and "\nkent-cin-plan  " in listed
    assert str(site / "cinflow" / "examples") in listed
    out = sh(str(script), "run", "kent-cin-plan", cwd=tmp_path, env=env)
    assert out.startswith("Case K-001 under kent") and "kent.review_chair" in out


def test_examples_lists_every_shipped_example(capsys):
    assert main(["examples", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in listed] == sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
    kent = next(e for e in listed if e["name"] == "kent-cin-plan")
    assert kent["summary"].startswith("A synthetic Kent case: referral, assessment") and kent["summary"].endswith(".")
    assert main(["examples"]) == 0
    assert "\nkent-cin-plan   " in capsys.readouterr().out


def test_a_bare_name_runs_the_shipped_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "kent-cin-plan", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["case"] == "K-001"
    assert main(["run", "kent-cin-pla"]) == 2
    assert "kent-cin-pla: no such file (nor a shipped example: 'cinflow examples' lists them)" in capsys.readouterr().err
    # A file of that name in the working directory wins over the shipped example.
    (tmp_path / "kent-cin-plan").write_text("authority: kent\n")
    assert main(["run", "kent-cin-plan"]) == 2
    assert "missing 'child'" in capsys.readouterr().err
