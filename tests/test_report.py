from humanvid.config import TableConfig
from humanvid.reports import RowResult, lock_hashes, render_markdown

CONDITIONS = {"openpose18": {"estimator": "dwpose", "ground_truth": False}, "alpha": {"estimator": "groundtruth", "ground_truth": True}}


def _metrics(l1, psnr):
    return {"protocol": "corrected", "overall": {"l1": l1, "psnr": psnr}, "frames": 10, "clips": {"a": {}, "b": {}},
            "failed": [], "conditions": CONDITIONS, "data": "synthdance"}  # fmt: skip


def test_paper_column_delta_and_condition_sources():
    table = TableConfig(title="Ablation", rows={"Ours": "s1", "DWPose": "s2"}, columns=["l1", "psnr"],
                        paper={"Ours": {"l1": 0.5, "psnr": 18.22}}, source="MagicAnimate supplement, Table 1")  # fmt: skip
    rows = [RowResult("Ours", "s1", _metrics(0.25, 20.0), {"model (finetune)": "abc123"}, "previews/s1.png"),
            RowResult("DWPose", "s2", _metrics(0.3, 17.0))]  # fmt: skip
    md = render_markdown("ablation", table, rows)
    assert md.startswith("# Ablation")
    assert "MagicAnimate supplement, Table 1" in md
    assert "| Ours | 0.2500 (paper 0.5000, Δ -0.25) | 20.00 (paper 18.22, Δ +1.78) | 2 | 10 | 0 |" in md
    assert "| DWPose | 0.3000 | 17.00 | 2 | 10 | 0 |" in md  # no paper numbers for that row
    assert "`openpose18` from `dwpose`: estimated" in md
    assert "`alpha` from `groundtruth`: **ground truth**" in md
    assert "![Ours: generated, ground truth, condition](previews/s1.png)" in md
    assert "`abc123`" in md and "`not run`" in md


def test_lock_hashes():
    lock = {"stages": {"finetune@m": {"outs": [{"path": "data/models/m/finetune", "md5": "d41d.dir"}]}}}
    assert lock_hashes(lock, "finetune@m") == "d41d.dir"
    assert lock_hashes(lock, "sample@x") is None and lock_hashes({}, "finetune@m") is None
