import html

from humanvid.reports import RowResult, TableSpec, lock_hashes, render_html, render_markdown

CONDITIONS = {"openpose18": {"estimator": "dwpose", "ground_truth": False}, "alpha": {"estimator": "groundtruth", "ground_truth": True}}


def _metrics(l1, psnr, disco_psnr=100.0, needs=None):
    return {"protocol": "corrected", "overall": {"l1": l1, "psnr": psnr},
            "protocols": {"corrected": {"overall": {"l1": l1, "psnr": psnr}}, "disco": {"overall": {"l1": l1 / 1000, "psnr": disco_psnr}}},
            "needs": needs or {}, "frames": 10, "clips": {"a": {}, "b": {}},
            "failed": [], "conditions": CONDITIONS, "data": "synthdance"}  # fmt: skip


SPEC = TableSpec(name="ablation", title="Ablation", columns=["l1", "psnr", "fid"], protocol="corrected",
                 paper_source="MagicAnimate supplement, Table 1", paper_protocol="disco", scales={"l1": 1e-4})  # fmt: skip


def test_paper_column_delta_and_condition_sources():
    needs = {"fid": {"corrected": "weights fid-inception (humanvid weights fetch fid-inception)", "disco": "weights fid-inception"}}
    rows = [RowResult("Ours", "s1", _metrics(2.5e-4, 20.0, needs=needs), {"model (finetune)": "abc123"}, "previews/s1/grid.png",
                      "previews/s1/clip.webm", paper={"l1": 5e-4, "psnr": 18.22, "fid": 32.09}),
            RowResult("DWPose", "s2", _metrics(3e-4, 17.0, needs=needs)),
            RowResult("FullCond", "ma_fullcond", needs="sampler `ma_fullcond` in params.yaml", paper={"psnr": 17.96})]  # fmt: skip
    md = render_markdown(SPEC, rows)
    assert md.startswith("# Ablation")
    assert "MagicAnimate supplement, Table 1" in md and "protocol `corrected`" in md and "The paper's numbers: protocol `disco`." in md
    assert "L1 ↓ (×0.0001)" in md  # the paper's print scale is named in the header
    assert "| Ours | 2.5 (paper 5, Δ -2.5) | 20.00 (paper 18.22, Δ +1.78) | needs weights fid-inception (paper 32.09) | 2 | 10 | 0 |" in md
    assert "| DWPose | 3 | 17.00 | needs weights fid-inception | 2 | 10 | 0 |" in md  # no paper numbers for that row
    assert "| FullCond | not run | not run (paper 17.96) | not run | — | — | — |" in md
    assert "- **FullCond** (sampler `ma_fullcond`): needs sampler `ma_fullcond` in params.yaml" in md
    assert "| Ours | 0.00025 / 2.5e-07 / — / — | 20.00 / 100.00 / — / — | — / — / — / — |" in md  # every protocol, metric units
    assert "- `fid` (corrected): needs weights fid-inception (humanvid weights fetch fid-inception)" in md
    assert "`openpose18` from `dwpose`: estimated" in md
    assert "`alpha` from `groundtruth`: **ground truth**" in md
    assert "![Ours: generated, ground truth, condition](previews/s1/grid.png)" in md
    assert "[video: Ours](previews/s1/clip.webm)" in md
    assert "`abc123`" in md and "`not run`" in md


def test_stage_times_and_html_escaping():
    timings = [{"stage": "sample@s1", "seconds": 7200.0, "device": "cuda:0", "gpu_hours": 2.0},
               {"stage": "evaluate@s1", "seconds": 30.0, "device": "cpu", "gpu_hours": 0.0}]  # fmt: skip
    rows = [RowResult("<b>Ours</b>", "s1", _metrics(2.5e-4, 20.0), paper={"psnr": 18.22}, preview="p/grid.png", video="p/clip.webm")]
    md = render_markdown(SPEC, rows, timings)
    assert "| sample@s1 | 7200.0 | cuda:0 | 2.0000 |" in md and "| **total** | 7230.0 | | 2.0000 |" in md
    page = render_html(SPEC, rows, timings)
    assert "<b>Ours</b>" not in page and "&lt;b&gt;Ours&lt;/b&gt;" in page  # labels are escaped
    assert '<td class="delta-good" data-metric="psnr">20.00 (paper 18.22, Δ +1.78)</td>' in page
    assert '<img src="p/grid.png"' in page and '<video src="p/clip.webm"' in page


def test_lock_hashes():
    lock = {"stages": {"finetune@m": {"outs": [{"path": "data/models/m/finetune", "md5": "d41d.dir"}]}}}
    assert lock_hashes(lock, "finetune@m") == "d41d.dir"
    assert lock_hashes(lock, "sample@x") is None and lock_hashes({}, "finetune@m") is None


def test_a_row_caveat_and_a_rank_warning_are_shown_beside_the_numbers():
    """A paper row whose weights are not the paper's says so next to its Δ; a Fréchet distance from fewer samples
    than feature dimensions is flagged (only the table's own protocol and columns)."""
    spec = TableSpec(name="t", title="T", columns=["psnr", "fvd"], protocol="disco@2024-04", paper_source="MagicAnimate supplement, Table 1",
                     paper_protocol="disco@2024-04")  # fmt: skip
    metrics = _metrics(2.5e-4, 20.0)
    metrics["protocols"]["disco@2024-04"] = {"overall": {"psnr": 17.5, "fvd": 190.0}, "size": 256}
    metrics["warnings"] = [{"metric": "fvd", "protocol": "disco@2024-04", "samples": 30, "features": 400},
                           {"metric": "fvd", "protocol": "corrected", "samples": 10, "features": 400},
                           {"metric": "fid", "protocol": "disco@2024-04", "samples": 30, "features": 2048}]  # fmt: skip
    caveat = "released weights, not the paper's TikTok checkpoint (the maintainers say they score worse)"
    rows = [RowResult("Ours", "s1", metrics, paper={"psnr": 18.22}, caveat=caveat)]
    md = render_markdown(spec, rows)
    assert "| Ours † | 17.50 (paper 18.22, Δ -0.72) | 190.00 |" in md and f"† Ours: {caveat}" in md
    assert "Ours: fvd (disco@2024-04): 30 samples for 400-dimensional features" in md
    assert "fvd (corrected)" not in md and "fid (disco@2024-04)" not in md
    assert "(DisCo's evaluation code from 2024-04-10 (PSNR fixed, other quirks kept), at 256²" in md
    assert "`disco@2024-04` (256²)" in md
    page = render_html(spec, rows)
    assert "Ours †</td>" in page and f"† Ours: {html.escape(caveat)}" in page and "30 samples for 400-dimensional features" in page
