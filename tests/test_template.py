"""The plugin template works for a new author: copy it, rename it, install it,
and cinflow lists the new council, checks it, runs its scenario and its tests
pass.  (The install goes into a temporary directory, not the test venv.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).parent.parent / "plugins" / "template"


def sh(*args, cwd=None, env=None):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("author")
    pkg = work / "cinflow-policy-test-borough"
    shutil.copytree(TEMPLATE, pkg, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    sh(sys.executable, "rename_council.py", "test-borough", cwd=pkg)
    site = work / "site"
    sh(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg))
    env = {**os.environ, "PYTHONPATH": str(site)}
    return pkg, env


def cinflow(env, *args, cwd=None):
    return sh(sys.executable, "-c", "from cinflow.cli import entry; entry()", *args, env=env, cwd=cwd)


def test_rename_touches_every_placeholder(installed):
    pkg, _ = installed
    assert (pkg / "cinflow_policy_test_borough" / "policy.yaml").exists()
    for path in pkg.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".toml", ".yaml", ".md"} and path.name != "rename_council.py":
            text = path.read_text()
            assert "my-council" not in text and "my_council" not in text, path


def test_installed_template_is_listed_and_conforms(installed):
    _, env = installed
    assert "test-borough" in cinflow(env, "policies").split()
    assert cinflow(env, "policies", "check", "test-borough").strip() == "test-borough: ok"


def test_installed_template_runs_its_scenario(installed):
    pkg, env = installed
    out = cinflow(env, "run", "scenario.yaml", "--format", "json", cwd=pkg)
    assert '"authority": "test-borough"' in out and '"rule": "test-borough.initial_chair"' in out


def test_installed_template_tests_pass(installed):
    pkg, env = installed
    out = sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=pkg, env=env)
    assert "2 passed" in out


def test_rename_rejects_a_bad_id(tmp_path):
    pkg = tmp_path / "t"
    shutil.copytree(TEMPLATE, pkg, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    done = subprocess.run([sys.executable, "rename_council.py", "My Borough"], cwd=pkg, capture_output=True, text=True)
    assert done.returncode == 1 and "not a kebab-case council id" in done.stderr
    assert (pkg / "cinflow_policy_my_council").exists()
