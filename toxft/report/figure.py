"""The figure of a report: % toxic per subset and model, with each rate's HDI (the interval every table uses)."""

from __future__ import annotations

from pathlib import Path

from toxft.files import save_figure
from toxft.report.table import TITLES, Report, cells


def plot_rates(report: Report, path: Path) -> Path:
    """Grouped bars of % toxic per subset and model, with the report's HDI of each rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = report.columns
    width = 0.8 / len(report.runs)
    fig, axis = plt.subplots(figsize=(max(6.0, 1.2 * len(columns) + 0.4 * len(report.runs)), 3.8))
    for index, (run, name) in enumerate(zip(report.runs, report.names)):
        xs, rates, low, high = [], [], [], []
        for position, cell in enumerate(cells(run, columns, report.settings.hdi_prob).values()):
            if cell is None:
                continue
            xs.append(position + (index - (len(report.runs) - 1) / 2) * width)
            rates.append(cell.rate * 100)
            low.append((cell.rate - cell.interval[0]) * 100)
            high.append((cell.interval[1] - cell.rate) * 100)
        axis.bar(xs, rates, width=width, yerr=[low, high], capsize=3, label=name)
    axis.set_xticks(range(len(columns)), [TITLES[c] for c in columns])
    axis.set_ylabel("% toxic continuations")
    axis.set_title(f"Toxic continuations per subset ({report.settings.hdi_prob:.0%} HDI; lower is better)", fontsize=10)
    axis.legend(fontsize=8)
    return save_figure(fig, path)
