"""core.common.formatting: times, sizes, scores and shares read the same in the app and in the reports."""
from core.common.formatting import DASH, fmt_score, fmt_share, fmt_size, fmt_time


def test_fmt_time():
    assert fmt_time(0) == "0:00.000"
    assert fmt_time(1.5) == "0:01.500"
    assert fmt_time(75.25) == "1:15.250"
    assert fmt_time(3600) == "60:00.000"
    assert fmt_time(-0.04) == "0:00.000"          # a time before the first frame reads as its start
    assert fmt_time(59.9996) == "1:00.000"        # not "0:60.000"
    assert fmt_time(119.9999) == "2:00.000"


def test_fmt_size():
    assert fmt_size(0) == "0 bytes"
    assert fmt_size(1023) == "1,023 bytes"
    assert fmt_size(1024) == "1,024 bytes (1.0 KiB)"
    assert fmt_size(1_234_567) == "1,234,567 bytes (1.2 MiB)"
    assert fmt_size(5 * 1024 ** 3) == "5,368,709,120 bytes (5.0 GiB)"
    assert fmt_size(3 * 1024 ** 5).endswith("(3072.0 TiB)")


def test_fmt_score_and_share():
    assert fmt_score(0.73249) == "0.732" and fmt_score(1) == "1.000"
    assert fmt_score(None) == DASH and fmt_score(None, missing="no face") == "no face"
    assert fmt_share(0.41666) == "41.7 %" and fmt_share(0.41666, decimals=0) == "42 %"
    assert fmt_share(None) == DASH and fmt_share(None, missing="-") == "-"


def test_app_and_reports_use_it():
    """The panels and the reports import these functions instead of keeping copies."""
    import caddm_gui.evidence_panel
    import caddm_gui.frame_table
    import caddm_gui.main_window
    import caddm_gui.review_panel
    import caddm_gui.findings_panel
    import core.common.formatting as F
    import core.reports.content
    import core.reports.html_report
    import core.reports.pdf_report

    for mod in (caddm_gui.frame_table, caddm_gui.main_window, caddm_gui.review_panel, caddm_gui.evidence_panel,
                core.reports.content, core.reports.html_report, core.reports.pdf_report):
        assert mod.fmt_time is F.fmt_time, mod.__name__
    for mod in (caddm_gui.frame_table, caddm_gui.findings_panel, core.reports.content, core.reports.html_report):
        assert mod.fmt_score is F.fmt_score, mod.__name__
    assert caddm_gui.evidence_panel.fmt_size is core.reports.content.fmt_size is F.fmt_size
