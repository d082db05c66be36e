"""The `humanvid` command's listings and help, on the checkout's params.yaml (read-only)."""

import pytest
from conftest import REPO

from flows.cli import main


def test_reproduce_help_lists_the_tables(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--workspace", str(REPO), "reproduce", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"tables in {REPO / 'params.yaml'}:" in out
    assert "  demo  " in out and "Demo: pose-guided baseline" in out and "make_your_anchor_windows" in out


def test_help_survives_a_missing_params_yaml(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["-w", str(tmp_path), "reproduce", "--help"])
    assert "tables: none found" in capsys.readouterr().out


def test_datasets_and_estimators_list_their_registries_and_this_workspaces_use(capsys):
    assert main(["--workspace", str(REPO), "datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "| synthdance | The embedded default dataset. | synthdance, synthdance_anchor |" in out and "| tiktok | `tiktok`: the TikTok dance dataset" in out
    assert main(["--workspace", str(REPO), "estimators", "list"]) == 0
    out = capsys.readouterr().out
    assert "| openpose_wholebody | openpose18, wholebody133 | openpose-body, openpose-hand, openpose-face | yes | — |" in out
    assert "| groundtruth | openpose18, wholebody133, depth, alpha, densepose, mesh_normals | — | no | synthdance, synthdance_anchor |" in out
