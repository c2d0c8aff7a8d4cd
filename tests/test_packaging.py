"""The wheel: task YAMLs inside, no generic top-level packages, a working console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True)
    (path,) = out.glob("toxft-*.whl")
    return zipfile.ZipFile(path).namelist()


def test_wheel_ships_the_tasks_under_toxft(wheel):
    yamls = {name for name in wheel if name.startswith("toxft/tasks/toxft/")}
    assert "toxft/tasks/toxft/_toxft_template_yaml" in yamls
    assert "toxft/tasks/toxft/toxft_rtp_severe.yaml" in yamls and "toxft/tasks/toxft/utils.py" in yamls
    assert "toxft/tasks/toxft/README.md" in yamls
    assert "toxft/measurements/toxft_toxicity/toxft_toxicity.py" in wheel


def test_wheel_has_no_generic_top_level_names(wheel):
    top = {name.split("/")[0] for name in wheel if not name.startswith("toxft-")}
    assert top == {"toxft"}
    assert "toxft/finetune/__init__.py" in wheel and "toxft/analysis/__init__.py" in wheel


def test_wheel_ships_every_package_of_the_source_tree(wheel):
    """A new subpackage must be listed in pyproject.toml: an editable install finds it anyway, a wheel does not."""
    sources = {"toxft": REPO / "toxft", "toxft/finetune": REPO / "finetune", "toxft/analysis": REPO / "analysis"}
    expected = {f"{prefix}/{init.relative_to(folder).as_posix()}" for prefix, folder in sources.items()
                for init in folder.rglob("__init__.py") if "egg-info" not in str(init)}
    assert expected and expected <= set(wheel), sorted(expected - set(wheel))


def test_cli_help_and_version():
    done = subprocess.run(["toxft", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "tasks-path" in done.stdout
    version = subprocess.run(["toxft", "--version"], capture_output=True, text=True)
    assert version.stdout.strip().startswith("toxft 0.")


def test_progress_in_a_log_is_whole_lines(capsys):
    from toxft.progress import LineProgress

    list(LineProgress(range(4), desc="toxft: few", unit="step"))
    many = LineProgress(total=100, desc="toxft: many", unit="batch")
    for _ in range(100):
        many.update(1)
    many.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines[:4]] == [f"toxft: few: {i}/4 step" for i in range(1, 5)]
    assert len([line for line in lines if line.startswith("toxft: many")]) == 10
    assert all("\r" not in line for line in lines)


def test_progress_in_a_log_shows_life_at_least_once_a_minute(capsys, monkeypatch):
    import toxft.progress

    now = [0.0]
    monkeypatch.setattr(toxft.progress.time, "perf_counter", lambda: now[0])
    slow = toxft.progress.LineProgress(total=100_000, desc="toxft: slow", unit="step")
    for _ in range(5):  # 5 steps of 30 s each: far from a tenth, but 2.5 minutes
        now[0] += 30.0
        slow.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines] == ["toxft: slow: 2/100000 step", "toxft: slow: 4/100000 step"]


def test_wheel_ships_the_demo_data_in_the_demo_package(wheel):
    assert "toxft/demo/data/README.md" in wheel
    assert "toxft/demo/data/allenai/real-toxicity-prompts/prompts.jsonl" in wheel
    assert "toxft/demo/tiny.py" in wheel and "toxft/tiny.py" not in wheel


def test_wheel_declares_the_harness_plugin_entry_point(wheel, tmp_path_factory):
    (path,) = {p.resolve() for p in tmp_path_factory.getbasetemp().glob("wheel*/toxft-*.whl")}  # the fixture's
    archive = zipfile.ZipFile(path)
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = archive.read(name).decode()
    assert "[lm_eval.tasks]\ntoxft = toxft.tasks" in text


def test_the_harness_finds_every_toxft_task_through_the_entry_point(hub_mirror, tiny_classifier, monkeypatch):
    """As lm-evaluation-harness PR #4015 loads plugins: entry point -> find_spec -> folder -> YAMLs -> TaskManager."""
    from importlib.metadata import entry_points
    from importlib.util import find_spec
    from pathlib import Path

    import yaml
    from lm_eval.tasks import TaskManager, get_task_dict

    from toxft.suite import TASKS

    (entry,) = [e for e in entry_points(group="lm_eval.tasks") if e.name == "toxft"]
    spec = find_spec(entry.value)
    folders = [Path(p) for p in spec.submodule_search_locations]
    found = {}
    for folder in folders:
        for path in folder.rglob("*.yaml"):
            # The harness's loader understands its own !function tag; a plain loader only needs the names.
            config = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
            found[config["group"] if "group" in config else config["task"]] = path
    expected = {*TASKS.values(), "toxft", "toxft_ceb", "toxft_rtp_full", "toxft_rtp_gehman"}
    assert expected <= set(found), expected - set(found)
    manager = TaskManager(include_path=[str(f) for f in folders])
    assert expected <= set(manager.all_tasks)
    monkeypatch.setenv("TOXFT_DATA_DIR", str(hub_mirror))
    monkeypatch.setenv("TOXFT_SCORER", str(tiny_classifier))
    loaded = get_task_dict(["toxft"], manager)
    assert set(TASKS.values()) <= set(_task_names(loaded))


def _task_names(tree):
    """The task names of the harness's nested {group: {task name: task}} dictionary."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _task_names(value)
        else:
            yield key


def _function_tag(loader, node):
    return loader.construct_scalar(node)


try:
    import yaml as _yaml

    class _Loader(_yaml.SafeLoader):
        """Reads the harness's task YAMLs for their names; ``!function`` values stay strings."""

    _Loader.add_constructor("!function", _function_tag)
except ImportError:  # pragma: no cover - pyyaml is a dependency
    _Loader = None


# Layers from the bottom up; a module may import its own layer and those below, never one above.
LAYERS = [
    ("toxft.errors", "toxft.arguments", "toxft.files", "toxft.progress", "toxft.settings", "toxft.suite",
     "toxft.paper"),
    ("toxft.data", "toxft.scorer", "toxft.degenerate", "toxft.runs", "toxft.hub", "toxft.gguf", "toxft.languages",
     "toxft.measurements"),
    ("toxft.analysis", "toxft.harness"),
    ("toxft.report", "toxft.finetune", "toxft.callbacks"),
    ("toxft.study",),
    ("toxft.check", "toxft.survey", "toxft.rescore", "toxft.agreement", "toxft.demo", "toxft.cli", "toxft.tasks"),
]


def _layer(module: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return index
    return None


def _modules() -> dict[str, Path]:
    roots = {"toxft": REPO / "toxft", "toxft.finetune": REPO / "finetune", "toxft.analysis": REPO / "analysis",
             "toxft.tasks": REPO / "tasks"}
    found = {}
    for package, folder in roots.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "toxft" and parts[0] in ("finetune", "analysis"):
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def test_imports_run_one_way():
    """Every import statement of every module, lazy ones included: a lower layer never imports a higher one."""
    import ast

    modules = _modules()
    assert len(modules) > 50 and all(_layer(name) is not None or name == "toxft" for name in modules), \
        sorted(name for name in modules if _layer(name) is None)
    wrong = []
    for name, path in modules.items():
        if name == "toxft":  # the package itself: version, and one-line shortcuts into every layer
            continue
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                layer = _layer(target)
                if target.startswith("toxft") and layer is not None and layer > _layer(name):
                    wrong.append(f"{name} (layer {_layer(name)}) imports {target} (layer {layer})")
    assert not wrong, "\n".join(sorted(set(wrong)))
