"""Reports from harness runs: one table (:mod:`.table`), rendered as text (:mod:`.render`), written into
model cards (:mod:`.card`), drawn (:mod:`.figure`), and the ``toxft report`` command (:mod:`.cli`)."""

from toxft.report.card import card_data, eval_results, push_card, update_card, update_card_file
from toxft.report.figure import plot_rates
from toxft.report.render import to_csv, to_json, to_markdown
from toxft.report.table import COLUMNS, TITLES, Cell, Report, cells, recorded_commits, revisions

__all__ = ["COLUMNS", "TITLES", "Cell", "Report", "cells", "recorded_commits", "revisions", "to_markdown", "to_json",
           "to_csv", "eval_results", "card_data", "update_card", "update_card_file", "push_card", "plot_rates"]
