"""A study's YAML: model families with roles, harness and fine-tuning settings, comparisons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from toxft.analysis.settings import AnalysisError, AnalysisSettings, from_mapping
from toxft.errors import ToxftError
from toxft.gguf import check as check_gguf
from toxft.gguf import is_gguf
from toxft.study.grid import DESIGNS, cells, duplicated, split_section

ROLES = ("base", "instruct", "dolly", "community")
# Each experiment compares the second role with the first, as the paper's Tables 1-3 do.
EXPERIMENTS = {
    "base-instruct": ("base", "instruct"),
    "instruct-dolly": ("instruct", "dolly"),
    "instruct-community": ("instruct", "community"),
}
_TOP_KEYS = {"name", "description", "env", "harness", "finetune", "analysis", "comparisons", "families",
             "dolly_adapters", "ranking", "languages", "grid"}
_MODEL_KEYS = {"role", "model", "name", "revision", "peft", "peft_revision", "published", "paper", "model_args", "note",
               "results", "downloads"}
# What each section may hold: a typo such as `batchsize` must not be ignored silently.
HARNESS_KEYS = {"model", "model_args", "batch_size", "apply_chat_template", "metadata", "limit", "extra_args"}
# Dolly models: evaluate the adapter the paper published, or train one with `toxft finetune`.
DOLLY_SOURCES = ("published", "train")


class StudyError(ToxftError):
    """The study file cannot be used as written."""


@dataclass
class ModelEntry:
    """One model of a family: what to load, in which role, and under which short name."""

    family: str
    role: str
    model: str
    name: str
    revision: str | None = None
    peft: str | None = None
    model_args: dict = field(default_factory=dict)
    published: str | None = None  # the paper's own adapter for a dolly model
    paper: str | None = None  # the row of the paper's tables this model matches
    peft_revision: str | None = None  # the adapter's commit on the Hub
    results: str | None = None  # where its harness results go, when not OUTPUT/results/<name> (a shared cache)
    downloads: int | None = None  # monthly downloads on the Hub, as a survey found them
    cell: dict | None = None  # a grid's fine-tune: the value of each axis (toxft.study.grid)

    @property
    def slug(self) -> str:
        """A folder name for this model's outputs."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")


@dataclass
class Study:
    """Everything a study run needs, with relative paths resolved against the YAML's folder."""

    name: str
    source: Path
    env: dict[str, str]
    harness: dict
    finetune: dict
    analysis: AnalysisSettings
    comparisons: list[str]
    families: dict[str, list[ModelEntry]]
    description: str = ""
    ranking: bool = False  # open the report with the community models ranked by their change (a survey's study)
    axes: dict = field(default_factory=dict)  # a grid's axes and their levels, in the study's order
    design: str = "factorial"
    # Cells left out of the grid: each is the same fine-tune as another (its method ignores the axes they differ in).
    same_cells: dict = field(default_factory=dict)

    def cells(self) -> list[ModelEntry]:
        """The fine-tunes of the grid, every family's."""
        return [entry for entry in self.models() if entry.cell is not None]

    def models(self) -> list[ModelEntry]:
        return [entry for entries in self.families.values() for entry in entries]

    def unmatched(self) -> list[str]:
        """Warnings for comparisons the study asks for that some family, or every family, cannot make."""
        warnings = []
        for experiment in self.comparisons:
            first, second = EXPERIMENTS[experiment]
            made = False
            for family, entries in self.families.items():
                roles = {e.role for e in entries}
                if second in roles and first not in roles:
                    warnings.append(f"{experiment}: family {family!r} has a {second} model but no {first} model "
                                    "to compare it with; it is left out of that table")
                made = made or (first in roles and second in roles)
            if not made:
                warnings.append(f"{experiment}: no family has both a {first} and a {second} model; "
                                "this comparison has nothing to run on")
        return warnings

    def pairs(self) -> dict[str, list[tuple[ModelEntry, ModelEntry]]]:
        """(reference, other) pairs per experiment, family by family."""
        found: dict[str, list[tuple[ModelEntry, ModelEntry]]] = {}
        for experiment in self.comparisons:
            first, second = EXPERIMENTS[experiment]
            for entries in self.families.values():
                references = [e for e in entries if e.role == first]
                for reference in references[:1]:
                    found.setdefault(experiment, []).extend(
                        (reference, other) for other in entries if other.role == second
                    )
        return found


def _mapping(value, where: str, known: set[str] | None = None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudyError(f"toxft: {where} must be a mapping")
    if known is not None:
        unknown = sorted(set(map(str, value)) - known)
        if unknown:
            raise StudyError(f"toxft: {where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return value


def _check_harness(harness: dict, path: Path) -> dict:
    limit = harness.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise StudyError(f"toxft: {path}: harness limit must be a whole number of 1 or more, not {limit!r}")
    for key in ("model_args", "metadata"):
        _mapping(harness.get(key), f"{path}: harness {key}")
    if not isinstance(harness.get("extra_args", []), list):
        raise StudyError(f"toxft: {path}: harness extra_args must be a list of command-line words")
    if "batch_size" in harness:
        from toxft.harness import batch_size

        try:
            batch_size(str(harness["batch_size"]))
        except Exception as error:  # argparse's ArgumentTypeError: the same words as the flag's
            raise StudyError(f"toxft: {path}: harness batch_size {error}") from None
    return harness


def _local(value: str, base: Path) -> str:
    """Relative local paths count from the YAML's folder; Hub ids stay as they are."""
    if value.startswith(("./", "../")):
        return str((base / value).resolve())
    return value


def load_study(path: str | Path, dolly: str | None = None) -> Study:
    """Read and check a study YAML; ``dolly`` (published or train) overrides its ``dolly_adapters``."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StudyError(f"toxft: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise StudyError(f"toxft: {path} is not UTF-8 text (byte {error.start})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise StudyError(f"toxft: {path}{where} is not valid YAML") from None
    raw = _mapping(raw, str(path), _TOP_KEYS)
    base = path.parent.resolve()
    comparisons = raw.get("comparisons", list(EXPERIMENTS))
    if not isinstance(comparisons, list):
        raise StudyError(f"toxft: {path}: comparisons must be a list, e.g. [{', '.join(EXPERIMENTS)}]")
    bad = [c for c in comparisons if c not in EXPERIMENTS]
    if bad:
        raise StudyError(f"toxft: {path}: unknown comparison {bad[0]!r} (one of {', '.join(EXPERIMENTS)})")
    families_raw = _mapping(raw.get("families"), "families")
    if not families_raw:
        raise StudyError(f"toxft: {path} lists no model families")
    source = dolly or raw.get("dolly_adapters", "train")
    if source not in DOLLY_SOURCES:
        raise StudyError(f"toxft: {path}: dolly_adapters must be published or train, not {source!r}")
    families = {name: _family(name, entries, base, path, source) for name, entries in families_raw.items()}
    names = [entry.name for entries in families.values() for entry in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StudyError(f"toxft: {path}: two models are both named {twice[0]!r}; give one a 'name'")
    env = {str(k): _local(str(v), base) for k, v in _mapping(raw.get("env"), f"{path}: env").items()}
    finetune, axes = _finetune(_mapping(raw.get("finetune"), f"{path}: finetune"), path, base)
    design = raw.get("grid", "factorial")
    if design not in DESIGNS:
        raise StudyError(f"toxft: {path}: grid must be {' or '.join(DESIGNS)}, not {design!r}")
    same_as = {}
    if axes:
        kept, same_as = distinct_cells(finetune, axes, design)
        families = {name: _with_cells(entries, kept, axes) for name, entries in families.items()}
        if not any(entry.cell for entries in families.values() for entry in entries):
            raise StudyError(f"toxft: {path}: finetune: the grid ({', '.join(axes)}) needs a dolly model the study "
                             "trains; every dolly model here is a published or given adapter")
    harness = _check_harness(_mapping(raw.get("harness"), f"{path}: harness", HARNESS_KEYS), path)
    languages = _languages(raw.get("languages"), path)
    if languages:  # every model is evaluated in them too, so that each comparison is paired in each language
        harness = {**harness, "languages": languages}
    return Study(
        name=str(raw.get("name") or path.stem), source=path, env=env,
        harness=harness, finetune=finetune,
        analysis=_analysis(raw.get("analysis"), path), comparisons=list(comparisons), families=families,
        description=str(raw.get("description") or "").strip(), ranking=_flag(raw.get("ranking", False), "ranking", path),
        axes=axes, design=design, same_cells=same_as,
    )


def _finetune(section: dict, path: Path, base: Path) -> tuple[dict, dict[str, list]]:
    """The ``finetune:`` section as (fixed options, grid axes), every value checked as ``toxft finetune`` checks it."""
    from toxft.finetune.options import check_section

    raw_fixed, raw_axes = split_section(section)
    fixed = check_section(raw_fixed, str(path))
    axes = {}
    for key, levels in raw_axes.items():
        checked = [check_section({key: level}, str(path)).get(key) for level in levels]
        if key == "data":
            checked = [_local(level, base) for level in checked]
        twice = duplicated(checked)
        if twice is not None:
            raise StudyError(f"toxft: {path}: finetune: {key}: {twice!r} is given twice")
        axes[key] = checked
    if isinstance(fixed.get("data"), str):
        fixed = {**fixed, "data": _local(fixed["data"], base)}
    return fixed, axes


def distinct_cells(finetune: dict, axes: dict[str, list], design: str) -> tuple[list, dict[str, str]]:
    """(the grid's distinct cells, {label of a cell left out: label of the cell it trains the same as}): a cell whose
    method ignores the axes it differs in (``r`` of a full fine-tune) is the same fine-tune as the first such cell."""
    from toxft.finetune.methods import effective

    kept, same_as, seen = [], {}, {}
    for cell in cells(axes, design):
        key = repr(sorted(effective({**finetune, **cell.values}).items(), key=lambda kv: kv[0]))
        if key in seen:
            same_as[cell.label(axes)] = seen[key].label(axes)
        else:
            seen[key] = cell
            kept.append(cell)
    return kept, same_as


def _with_cells(entries: list[ModelEntry], kept: list, axes: dict[str, list]) -> list[ModelEntry]:
    """Each Dolly model the study trains becomes one model per distinct grid cell, named after its cell."""
    from dataclasses import replace

    expanded = []
    for entry in entries:
        if entry.role != "dolly" or entry.peft:
            expanded.append(entry)
            continue
        expanded += [replace(entry, name=f"{entry.name}[{cell.label(axes)}]", cell=dict(cell.values)) for cell in kept]
    return expanded


def _languages(value, path: Path) -> list[str]:
    """``languages: [de, zh]``: PolygloToxicityPrompts languages to evaluate beside the English suite."""
    from toxft.languages import LanguageError, evaluated, parse

    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StudyError(f"toxft: {path}: languages must be a list of language codes, e.g. [de, zh]")
    try:
        return evaluated(parse(",".join(value)))
    except LanguageError as error:
        raise StudyError(f"toxft: {path}: {str(error).removeprefix('toxft: ')}") from None


def _flag(value, key: str, path: Path) -> bool:
    if not isinstance(value, bool):
        raise StudyError(f"toxft: {path}: {key} must be true or false, not {value!r}")
    return value


def _analysis(value, path: Path) -> AnalysisSettings:
    try:
        settings = from_mapping(_mapping(value, f"{path}: analysis"), str(path))
    except AnalysisError as error:
        raise StudyError(str(error)) from None
    if settings.scorers:
        from toxft.scorer import ScorerError, check_spec, describe

        seen = set()
        for spec in settings.scorers:
            try:
                check_spec(spec)
            except ScorerError as error:
                raise StudyError(f"toxft: {path}: analysis scorers: {str(error).removeprefix('toxft: ')}") from None
            if describe(spec) in seen:
                raise StudyError(f"toxft: {path}: analysis scorers: {spec!r} is given twice")
            seen.add(describe(spec))
    return settings


def _text(value) -> str | None:
    """A commit as text: YAML reads an all-digit short sha as a number."""
    return None if value is None else str(value)


def _family(name: str, entries, base: Path, path: Path, dolly_source: str = "train") -> list[ModelEntry]:
    if not isinstance(entries, list) or not entries:
        raise StudyError(f"toxft: {path}: family {name!r} must be a list of models")
    instruct = next((e.get("model") for e in entries if isinstance(e, dict) and e.get("role") == "instruct"), None)
    models = []
    for index, entry in enumerate(entries):
        where = f"{path}: family {name!r} model {index + 1}"
        entry = _mapping(entry, where)
        unknown = set(map(str, entry)) - _MODEL_KEYS
        if unknown:
            raise StudyError(f"toxft: {where}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_MODEL_KEYS))})")
        role = entry.get("role")
        if role not in ROLES:
            raise StudyError(f"toxft: {where}: role must be one of {', '.join(ROLES)}, not {role!r}")
        model = entry.get("model") or (instruct if role == "dolly" else None)
        if not model:
            needs = "an instruct model in the family or a 'model'" if role == "dolly" else "a 'model'"
            raise StudyError(f"toxft: {where}: a {role} model needs {needs}")
        model = _local(str(model), base)
        if is_gguf(model):  # read now: a truncated or foreign file fails here, not in a job's log
            if role == "dolly" and not entry.get("peft"):
                raise StudyError(f"toxft: {where}: toxft finetune starts from a transformers model, not a GGUF file "
                                 "(toxft.gguf.convert writes one)")
            check_gguf(model)
        label = entry.get("name") or (model.rstrip("/").split("/")[-1] + ("-dolly" if role == "dolly" else ""))
        peft = _local(str(entry["peft"]), base) if entry.get("peft") else None
        published = str(entry["published"]) if entry.get("published") else None
        if entry.get("peft_revision") and not peft:
            raise StudyError(f"toxft: {where}: 'peft_revision' pins a Hub adapter; give the adapter as 'peft'")
        if published and role != "dolly":
            raise StudyError(f"toxft: {where}: 'published' names the paper's adapter of a dolly model")
        if role == "dolly" and dolly_source == "published" and not peft:
            if not published:
                raise StudyError(f"toxft: {where}: dolly_adapters is published but this model has no 'published' adapter")
            peft = published
        results = str((base / Path(str(entry["results"])).expanduser()).resolve()) if entry.get("results") else None
        downloads = entry.get("downloads")
        if downloads is not None and (isinstance(downloads, bool) or not isinstance(downloads, int) or downloads < 0):
            raise StudyError(f"toxft: {where}: downloads must be a whole number of 0 or more, not {downloads!r}")
        models.append(ModelEntry(name, role, model, str(label), _text(entry.get("revision")), peft,
                                 _mapping(entry.get("model_args"), f"{where}: model_args"), published,
                                 entry.get("paper"), _text(entry.get("peft_revision")), results, downloads))
    return models
