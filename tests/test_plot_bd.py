"""The per-image BD-rate chart of a report (``bd-per-image.png``)."""

from __future__ import annotations

import math

import pytest

from lnic.bench.curves import load_per_image_table
from lnic.bench.data import default_anchors_dir
from lnic.bench.plot_bd import PER_IMAGE_PLOT, BDSeries, bd_series, plot_per_image_bd

ANCHORS = default_anchors_dir()
needs_anchors = pytest.mark.skipif(ANCHORS is None, reason="shared anchors not found")

HEADER = "image,codec,setting,width,height,bytes,bpp,psnr_rgb,encode_s,decode_s"

ANCHOR = {
    "a": ([0.1, 0.2, 0.4, 0.8], [28.0, 31.0, 34.0, 37.0]),
    "b": ([0.2, 0.4, 0.8, 1.6], [26.0, 29.0, 32.0, 35.0]),
}


def test_bd_series_per_image_and_mean():
    fewer = {k: ([0.9 * x for x in b], p) for k, (b, p) in ANCHOR.items()}
    more = {"a": ([1.2 * x for x in ANCHOR["a"][0]], ANCHOR["a"][1])}
    apart = {"a": ANCHOR["a"], "b": ([0.2, 0.4], [40.0, 41.0])}  # b: above the anchor's PSNRs
    s_fewer, s_more, s_apart = bd_series(ANCHOR, {"x": fewer, "y": more, "z": apart})
    assert s_fewer.rates == pytest.approx({"a": -10.0, "b": -10.0}, abs=1e-6)
    assert s_more.rates == pytest.approx({"a": 20.0}, abs=1e-6)  # only the images it has
    assert s_more.summary.mean == pytest.approx(20.0, abs=1e-6)
    assert math.isnan(s_apart.rates["b"]) and s_apart.summary.mean == pytest.approx(0.0, abs=1e-6)
    assert s_apart.summary.images == 1
    assert math.isnan(BDSeries("none", {"a": math.nan}).summary.mean)


def test_chart_is_written_whole(tmp_path):
    series = [BDSeries("lnic", {"kodim01": 12.0, "kodim02": math.nan}), BDSeries("x", {})]
    out = plot_per_image_bd(series, tmp_path / "c.png", anchor="VTM-23.13", title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary file left


def _rows(codec: str, points: dict, images: set[str]) -> list[str]:
    lines = []
    for img, (bpps, psnrs) in sorted(points.items()):
        if img in images:
            for k, (b, p) in enumerate(zip(bpps, psnrs, strict=True)):
                lines.append(f"{img},{codec},{k + 1},768,512,{int(b * 49152)},{b},{p},9,0.2")
    return lines


@needs_anchors
def test_report_draws_lnic_against_vtm_and_removes_a_stale_chart(tmp_path):
    from lnic.bench.report import write_report

    vtm = load_per_image_table(ANCHORS / "kodak-vtm23-per-image.csv")
    fewer = {k: ([0.9 * x for x in b], p) for k, (b, p) in vtm.items()}
    images = {"kodim01", "kodim05", "kodim23"}
    (tmp_path / "lnic.csv").write_text("\n".join([HEADER, *_rows("lnic", fewer, images)]) + "\n")
    write_report(tmp_path, ANCHORS)
    chart = tmp_path / PER_IMAGE_PLOT
    assert chart.stat().st_size > 10000

    # a folder without lnic rows: no chart, and the old one goes
    (tmp_path / "lnic.csv").unlink()
    (tmp_path / "jpeg.csv").write_text("\n".join([HEADER, *_rows("jpeg", vtm, images)]) + "\n")
    write_report(tmp_path, ANCHORS)
    assert not chart.exists()
