import csv
import io
import json
import re

import numpy as np
import pytest

from core.common.errors import OutputError
from core.reports import FILENAMES, render_reports, write_reports
from core.reports.csv_report import COLUMNS
from core.reports.figures import annotate_frame, render_view, score_colour_bgr, timeline_figure, timeline_png
from core.analysis.frame_results import FrameResult
from core.analysis.results import AnalysisResult, load_json
from report_fixtures import H, VIDEO_SHA, W, face, frame_source, make_result


def test_write_all_formats(tmp_path):
    r = make_result()
    out = write_reports(r, tmp_path / "out", frame_source=frame_source)
    assert set(out) == {"json", "csv", "html", "pdf"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILENAMES.values())

    # JSON: the result itself, round trip equal
    d = json.loads(out["json"].read_text())
    assert d["schema"] == "caddm-inspector/report@1" and d["video"]["sha256"] == VIDEO_SHA
    assert d["summary"]["verdict"] == "fake" and d["summary"]["threshold"] == 0.5
    assert d["frames"][2]["score"] is None and d["frames"][2]["faces"] == []
    assert load_json(out["json"]) == r

    # CSV: one row per face per frame, one row for a frame without a face
    rows = list(csv.DictReader(io.StringIO(out["csv"].read_text())))
    assert list(rows[0].keys()) == COLUMNS
    n_faces = sum(max(1, len(f.faces)) for f in r.frames)
    assert len(rows) == n_faces == 2 + 3 + 2 * 5  # 2 empty frames, 3 one-face frames, 5 two-face frames
    empty = [x for x in rows if x["frame"] == "50"]
    assert len(empty) == 1 and empty[0]["face"] == "" and empty[0]["score"] == "" and empty[0]["frame_score"] == ""
    f100 = [x for x in rows if x["frame"] == "100"]
    assert [x["face"] for x in f100] == ["0", "1"] and [x["track"] for x in f100] == ["0", "1"]
    assert f100[1]["score"] == "0.86" and f100[1]["n_artifacts"] == "2" and f100[1]["flagged"] == "1"
    arts = [a.split() for a in f100[1]["artifacts"].split(";")]
    assert len(arts) == 2 and all(len(a) == 5 for a in arts)
    assert [float(v) for v in arts[0]] == [*r.frame(100).faces[1].artifacts[0].box,
                                          r.frame(100).faces[1].artifacts[0].score]
    assert (f100[1]["box_x0"], f100[1]["box_y1"]) == ("400.0", "230.0")
    assert [x["note"] for x in rows if x["frame"] == "200"][0].startswith("'=")  # no spreadsheet formula

    # HTML: self-contained, hash, verdict, escaped user text, embedded images
    html = out["html"].read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert VIDEO_SHA in html and r.model.sha256 in html
    assert ">MANIPULATION SUSPECTED<" in html and "0.500" in html and ">FAKE<" not in html
    assert "<th>Line of evidence</th>" in html and "Identity vs reference" in html
    assert "data:image/png;base64," in html
    assert html.count("data:image/png;base64,") >= 1 + 5 * 2  # timeline + frames (one image missing) + close-ups
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "2024-&lt;17&gt;&amp;A" in html and "J. O&#x27;Brien &lt;lab&gt;" in html
    assert "mouth region &lt;blurred&gt; &amp; teeth" in html
    assert "frame image not available" in html  # frame 150's source returned None
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing external
    assert "caddm-inspector 0.1.0" in html

    # PDF
    pdf = out["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    n_pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert n_pages >= 2


def test_formats_subset_and_no_frame_source(tmp_path):
    r = make_result(case=False)
    out = write_reports(r, tmp_path, formats=("csv", "html"))
    assert set(out) == {"csv", "html"} and sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv",
                                                                                         "report.html"]
    html = out["html"].read_text()
    assert "frame image not supplied" in html and "<h2>Case</h2>" not in html
    with pytest.raises(ValueError):
        write_reports(r, tmp_path, formats=("docx",))


def test_no_face_and_incomplete(tmp_path):
    r = AnalysisResult.build(make_result().video, make_result().model, make_result().settings,
                             [FrameResult(index=i, time_s=i / 25) for i in range(3)], complete=False)
    assert r.summary.verdict == "no face"
    data = render_reports(r, ("html", "pdf", "csv"), frame_source=frame_source)
    html = data["html"].decode()
    assert ">INCONCLUSIVE<" in html and "no face: no score" in html and "INCOMPLETE ANALYSIS" in html
    assert data["pdf"].startswith(b"%PDF")
    assert len(data["csv"].decode().strip().splitlines()) == 4


def test_frame_source_errors_do_not_break_the_report(tmp_path):
    def broken(i):
        raise OSError("decoder gave up")
    html = render_reports(make_result(), ("html",), frame_source=broken)["html"].decode()
    assert "decoder gave up" in html


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OutputError) as e:
        write_reports(make_result(), blocker / "reports", frame_source=frame_source)
    assert str(blocker / "reports") in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_dir"]


def test_write_failure_midway_leaves_no_files(tmp_path, monkeypatch):
    import core.reports as reports

    calls = []

    def flaky(path, data):
        calls.append(path)
        if path.name == "report.html":
            raise OSError(28, "No space left on device")
        with open(path, "wb") as f:
            f.write(data)
    monkeypatch.setattr(reports, "atomic_write_bytes", flaky)
    with pytest.raises(OutputError, match="report.html"):
        write_reports(make_result(), tmp_path, formats=("json", "csv", "html"))
    assert list(tmp_path.iterdir()) == [] and len(calls) == 3


def test_annotate_frame():
    img = frame_source(100)
    fr = make_result().frame(100)
    out = annotate_frame(img, fr, 0.5)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, img) and np.array_equal(img, frame_source(100))  # input untouched
    # the high-score face box edge is drawn in the "above threshold" colour
    x0, y0, x1, y1 = (int(v) for v in fr.faces[1].box)
    edge = out[(y0 + y1) // 2, x0]
    assert np.abs(edge.astype(int) - np.array(score_colour_bgr(fr.faces[1].score, 0.5))).max() < 40
    assert np.array_equal(out[H - 5, W // 2], img[H - 5, W // 2])  # far from faces: untouched
    empty = annotate_frame(img, FrameResult(index=0, time_s=0.0), 0.5)
    assert np.array_equal(empty, img)
    # a tiny and a huge frame both work
    small = annotate_frame(np.zeros((40, 60, 3), np.uint8), FrameResult(0, 0.0, faces=[face(0, 5, 0.9)]), 0.5)
    assert small.shape == (40, 60, 3)
    big = render_view(np.zeros((2160, 3840, 3), np.uint8), fr, 0.5, None, 400)
    assert max(big.shape[:2]) == 400


def test_score_colours():
    lo, hi = score_colour_bgr(0.1, 0.5), score_colour_bgr(0.9, 0.5)
    assert lo[1] > lo[2] and hi[2] > hi[1]  # green below, red above


def test_timeline():
    r = make_result()
    png = timeline_png(r)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    fig = timeline_figure(r)
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("track")]
    assert [ln.get_label() for ln in lines] == ["track 0", "track 1"]
    y0 = lines[0].get_ydata()
    assert np.isnan(y0[2]) and np.isnan(y0[7]) and not np.isnan(y0[0])  # gaps where there is no face
    assert np.isnan(lines[1].get_ydata()[:4]).all()
    thr = [ln for ln in ax.get_lines() if ln.get_label().startswith("threshold")]
    assert thr and thr[0].get_ydata()[0] == 0.5


def test_no_pyplot_state():
    import sys
    make = make_result()
    timeline_png(make)
    render_reports(make, ("pdf",))
    if "matplotlib.pyplot" in sys.modules:  # imported elsewhere: then no figures may be left open by us
        import matplotlib.pyplot as plt
        assert plt.get_fignums() == []


@pytest.mark.long
def test_pdf_long_text_runs_over_pages():
    from dataclasses import replace
    import re as _re
    from core.analysis.results import CaseInfo, Review
    r = replace(make_result(), case=CaseInfo("L-1", "B", "lorem ipsum $x$ " * 1500),
                review=Review(flags={100}, notes={100: "n " * 1500}))
    short = render_reports(make_result(), ("pdf",), frame_source=frame_source)["pdf"]
    long = render_reports(r, ("pdf",), frame_source=frame_source)["pdf"]
    count = lambda b: len(_re.findall(rb"/Type\s*/Page[^s]", b))
    assert count(long) > count(short) + 2


def test_track_review_and_case_audit_line(tmp_path):
    """A result exported from a case carries the audit summary and may hold review per face track: both reach the
    JSON (round trip), the HTML and the PDF; a result without them keeps the JSON it had."""
    from core.analysis.results import CaseInfo, Review

    plain = make_result()
    assert "audit" not in plain.to_dict()["case"] and "track_flags" not in plain.to_dict()["review"]
    r = make_result()
    r.case = CaseInfo(case_id="C-9", analyst="A", audit="12 entries; chain verified: yes; head 0123abcd")
    r.review = Review(flags={100}, notes={}, track_flags={1}, track_notes={0: "ear <edge> flickers", 1: "swap"})
    out = write_reports(r, tmp_path, formats=("json", "html", "pdf"))
    d = json.loads(out["json"].read_text())
    assert d["case"]["audit"].startswith("12 entries") and d["review"]["track_flags"] == [1]
    assert d["review"]["track_notes"] == {"0": "ear <edge> flickers", "1": "swap"}
    assert load_json(out["json"]) == r
    html = out["html"].read_text()
    assert "Case audit log" in html and "12 entries; chain verified: yes" in html
    assert "Face tracks flagged or annotated" in html and "ear &lt;edge&gt; flickers" in html
    assert "flagged by analyst; note: swap" in html
    assert out["pdf"].read_bytes().startswith(b"%PDF")


def test_pdf_wrap_fills_lines_without_overflowing_them():
    """Lines are built from word widths; measured whole, none is wider than the column and none could take the
    next word; the text is kept word for word, long tokens broken."""
    from core.reports.pdf_report import text_width_in, wrap

    text = ("Analysed 180 of 180 frames at 30.000 fps; the artifact score stays below the calibrated threshold "
            "of 0.8014 on every face (AVfV kerning pairs: To, Wa, Yo). SHA-256 " + "0123456789abcdef" * 4)
    for mono in (False, True):
        lines = wrap(text, 2.5, 9.0, mono=mono)
        assert len(lines) > 3
        assert all(text_width_in(line, 9.0, mono=mono) <= 2.5 for line in lines)
        words = set(text.split(" "))
        for line, nxt in zip(lines, lines[1:]):
            if line.split(" ")[-1] in words and nxt.split(" ")[0] in words:  # a break between two whole words
                assert text_width_in(f"{line} {nxt.split(' ')[0]}", 9.0, mono=mono) > 2.5
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert wrap("one\ntwo", 5.0, 9.0) == ["one", "two"]
