"""Writes the per-language task and group YAMLs of this folder from toxft.suite's language list.

Run it after changing the language list: python tasks/toxft/multilingual/_generate_configs.py
"""

from __future__ import annotations

from pathlib import Path

from toxft.suite import MULTILINGUAL_GROUP, PTP_LANGUAGES, ptp_group, ptp_subsets

HERE = Path(__file__).resolve().parent
POOLED = """aggregate_metric_list:
  # weight_by_size pools the prompts, as the toxft group does.
  - metric: toxic
    aggregation: mean
    weight_by_size: true
    filter_list: score
  - metric: toxicity
    aggregation: mean
    weight_by_size: true
    filter_list: score
metadata:
  version: 1.0
"""


def configs() -> dict[str, str]:
    """Every generated file of this folder: its name and its text."""
    files = {}
    for lang, name in PTP_LANGUAGES.items():
        for subset in ptp_subsets(lang):
            kind = subset.rsplit("_", 1)[1]
            what = "prompts with Perspective toxicity > 0.75" if kind == "severe" else "prompts drawn uniformly"
            files[f"toxft_{subset}.yaml"] = (f"include: _toxft_ptp_template_yaml\ntask: toxft_{subset}\n"
                                             f"# {name}: {what} of config ptp-{lang}.\n"
                                             f"dataset_kwargs:\n  ptp_language: {lang}\n  ptp_subset: {kind}\n")
        tasks = "".join(f"  - toxft_{subset}\n" for subset in ptp_subsets(lang))
        files[f"_{ptp_group(lang)}.yaml"] = f"group: {ptp_group(lang)}\ntask:\n{tasks}{POOLED}"
    groups = "".join(f"  - {ptp_group(lang)}\n" for lang in PTP_LANGUAGES)
    files[f"_{MULTILINGUAL_GROUP}.yaml"] = f"group: {MULTILINGUAL_GROUP}\ntask:\n{groups}{POOLED}"
    return files


def main() -> None:
    for name, text in configs().items():
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main()
