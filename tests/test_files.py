"""Cards, reports and figures are written the way an editor writes a file."""

from __future__ import annotations

import os
import stat

import pytest

from toxft.errors import ToxftError
from toxft.files import save_figure, write_atomically


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_existing_file_keeps_its_mode(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("old\n")
    for mode in (0o644, 0o664, 0o600):
        card.chmod(mode)
        write_atomically(card, f"new {mode}\n")
        assert _mode(card) == mode and card.read_text() == f"new {mode}\n"


def test_a_new_file_gets_the_umask_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "report.md", "x\n")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "report.md") == 0o644


def test_a_symlink_stays_a_link_and_its_target_is_updated(tmp_path):
    target = tmp_path / "cards" / "real.md"
    target.parent.mkdir()
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "README.md"
    link.symlink_to(target)
    write_atomically(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new\n" and _mode(target) == 0o640


def test_a_read_only_file_is_refused_and_unchanged(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("mine\n")
    card.chmod(0o444)
    with pytest.raises(ToxftError, match="read-only"):
        write_atomically(card, "theirs\n")
    assert card.read_text() == "mine\n" and _mode(card) == 0o444


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_the_owner_is_kept(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("old\n")
    os.chown(card, 4321, 4322)
    write_atomically(card, "new\n")
    assert (card.stat().st_uid, card.stat().st_gid) == (4321, 4322)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    card = tmp_path / "README.md"
    card.write_text("old\n")

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        write_atomically(card, "new\n")
    assert card.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["README.md"]


def test_figures_go_through_the_same_rules(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, _ = plt.subplots()
    path = tmp_path / "f.svg"
    path.write_text("old")
    path.chmod(0o664)
    save_figure(figure, path)
    assert path.read_text().lstrip().startswith("<?xml") and _mode(path) == 0o664
    with pytest.raises(ToxftError, match="unknown file type"):
        save_figure(figure, tmp_path / "f.bmp")
    plt.close(figure)


def test_card_update_through_the_cli_keeps_mode_and_link(harness_run, tmp_path):
    from toxft.cli import main

    target = tmp_path / "real.md"
    target.write_text("---\nlicense: mit\n---\n# model\n")
    target.chmod(0o644)
    link = tmp_path / "README.md"
    link.symlink_to(target)
    assert main(["report", str(harness_run), "--card", str(link)]) == 0
    assert link.is_symlink() and _mode(target) == 0o644 and "toxft:start" in target.read_text()
