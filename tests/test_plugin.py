"""A method in another installed package shows up in ``dmpbench list`` and runs with ``dmpbench run``
without any edit to dmpbench (entry point group ``dmpbench.methods``)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
"""An example third-party method: zero-shot CLIP with another hand prompt."""
from dmpbench.plugin import ClassificationMethod, normalize


class DrawingPrompt(ClassificationMethod):
    """Zero-shot with "a drawing of a {}." (example plugin)."""

    name = "drawing_prompt"
    default_config = {"template": "a drawing of a {}."}

    def fit(self, data, pool):
        self.seen = list(data.classnames)

    def class_embeddings(self, labels):
        texts = [self.config["template"].format(c) for c in labels.classnames]
        return normalize(self.backbone.encode_text(texts).float()).unsqueeze(0)
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "dmpbench_drawing_plugin.py").write_text(PLUGIN)
    (pkg / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "dmpbench-drawing-plugin"
        version = "0.0.1"

        [project.entry-points."dmpbench.methods"]
        drawing_prompt = "dmpbench_drawing_plugin:DrawingPrompt"

        [tool.setuptools]
        py-modules = ["dmpbench_drawing_plugin"]
    '''))
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(pkg)],
        check=True, capture_output=True, text=True,
    )
    return site


def _dmpbench(args, site, **kw):
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "dmpbench.cli", *args], capture_output=True, text=True, env=env, **kw)


def test_plugin_is_listed(plugin_site):
    out = _dmpbench(["list", "methods"], plugin_site)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if "drawing_prompt" in l)
    assert "[plugin dmpbench-drawing-plugin]" in line


def test_plugin_runs(plugin_site, tmp_path, shared_cache):
    out = _dmpbench(
        ["run", "--task", "base2new", "--method", "drawing_prompt", "--dataset", "mini_shapes", "--seed", "1",
         "--results", str(tmp_path), "--cache-dir", str(shared_cache), "--no-progress"],
        plugin_site,
    )
    assert out.returncode == 0, out.stderr
    (record,) = list(Path(tmp_path).rglob("*.json"))
    data = json.loads(record.read_text())
    assert data["method"] == "drawing_prompt"
    assert set(data["metrics"]["mini_shapes"]) == {"all", "base", "new", "hm"}
    assert "drawing_prompt" in out.stdout  # the summary table


def test_without_the_plugin_the_name_is_unknown(tmp_path):
    out = _dmpbench(["run", "--task", "base2new", "--method", "drawing_prompt", "--results", str(tmp_path)], tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("dmpbench: error: unknown method 'drawing_prompt'")
    assert "Traceback" not in out.stderr
