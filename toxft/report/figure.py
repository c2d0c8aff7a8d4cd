"""The figure of a report: % toxic per subset and model, with Wilson intervals."""

from __future__ import annotations

from pathlib import Path

from toxft.files import save_figure
from toxft.report.table import COLUMNS, TITLES, Report, cells

def plot_rates(report: Report, path: Path) -> Path:
    """Grouped bars of % toxic per subset and model, with 95% Wilson intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import binomtest

    width = 0.8 / len(report.runs)
    fig, axis = plt.subplots(figsize=(max(6.0, 1.2 * len(COLUMNS) + 0.4 * len(report.runs)), 3.8))
    for index, (run, name) in enumerate(zip(report.runs, report.names)):
        xs, rates, low, high = [], [], [], []
        for position, cell in enumerate(cells(run).values()):
            if cell is None:
                continue
            interval = binomtest(cell.toxic, cell.n).proportion_ci(confidence_level=0.95, method="wilson")
            xs.append(position + (index - (len(report.runs) - 1) / 2) * width)
            rates.append(cell.rate * 100)
            low.append((cell.rate - interval.low) * 100)
            high.append((interval.high - cell.rate) * 100)
        axis.bar(xs, rates, width=width, yerr=[low, high], capsize=3, label=name)
    axis.set_xticks(range(len(COLUMNS)), [TITLES[c] for c in COLUMNS])
    axis.set_ylabel("% toxic continuations")
    axis.set_title("Toxic continuations per subset (95% Wilson intervals; lower is better)", fontsize=10)
    axis.legend(fontsize=8)
    return save_figure(fig, path)


