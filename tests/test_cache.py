import json
from dataclasses import replace

import pytest

import core.common.atomic
from core.analysis.cache import ResultCache, default_root
from core.common.errors import OutputError
from core.media.frames import FrameSelection
from report_fixtures import MODEL_SHA, VIDEO_SHA, make_result


def test_round_trip(tmp_path):
    c = ResultCache(tmp_path / "cache")
    r = make_result()
    k = c.key_for(r)
    assert c.get(k) is None
    p = c.put(k, r)
    assert p.exists() and p.parent == tmp_path / "cache"
    assert c.get(k) == r
    assert [x.name for x in (tmp_path / "cache").iterdir()] == [f"{k}.json"]


def test_default_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path / "c"))
    assert ResultCache().root == tmp_path / "c" == default_root()
    monkeypatch.delenv("CADDM_CACHE_DIR")
    assert default_root().parts[-2:] == (".cache", "caddm-inspector")


def test_key_depends_on_selection_not_threshold():
    s = make_result().settings
    k = ResultCache.key(VIDEO_SHA, MODEL_SHA, s)
    assert len(k) == 64
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, replace(s, threshold=0.9)) == k
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, replace(s, device="cuda", batch_size=64)) == k
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, replace(s, frame_selection=FrameSelection("stride", 5))) != k
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, replace(s, frame_selection=FrameSelection("count", 25))) != k
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, replace(s, detector={"upsample": 2, "downscale": 640})) != k
    assert ResultCache.key("0" * 64, MODEL_SHA, s) != k
    assert ResultCache.key(VIDEO_SHA, "0" * 64, s) != k
    # dict order does not matter
    s2 = replace(s, detector={"downscale": 640, "upsample": 1})
    assert ResultCache.key(VIDEO_SHA, MODEL_SHA, s2) == k


@pytest.mark.parametrize("content", ["", "{\"schema\": \"caddm-inspector/report@1\"", "garbage\x00",
                                     json.dumps({"schema": "caddm-inspector/report@9"})])
def test_corrupt_entry_is_ignored_and_removed(tmp_path, content):
    c = ResultCache(tmp_path)
    r = make_result()
    k = c.key_for(r)
    c.put(k, r)
    c.path(k).write_text(content)
    assert c.get(k) is None
    assert not c.path(k).exists()
    c.put(k, r)
    assert c.get(k) == r


def test_truncated_entry_is_ignored(tmp_path):
    c = ResultCache(tmp_path)
    r = make_result()
    k = c.key_for(r)
    c.put(k, r)
    text = c.path(k).read_text()
    c.path(k).write_text(text[: len(text) // 2])
    assert c.get(k) is None and not c.path(k).exists()


def test_incomplete_results_not_cached(tmp_path):
    c = ResultCache(tmp_path)
    r = make_result(complete=False)
    k = c.key_for(r)
    assert c.put(k, r) is None
    assert c.get(k) is None and list(tmp_path.iterdir()) == []
    # an incomplete entry found on disk (older version, hand copied) is dropped too
    r.save_json(c.path(k))
    assert c.get(k) is None and not c.path(k).exists()


def test_crash_mid_write_leaves_no_entry(tmp_path, monkeypatch):
    c = ResultCache(tmp_path)
    r = make_result()
    k = c.key_for(r)

    class Boom(Exception):
        pass

    real_open = core.common.atomic.os.fdopen

    def exploding_fdopen(*a, **kw):
        f = real_open(*a, **kw)
        orig_write = f.write

        def write(data):
            orig_write(data[: len(data) // 2])
            raise Boom("disk pulled out")
        f.write = write
        return f

    monkeypatch.setattr(core.common.atomic.os, "fdopen", exploding_fdopen)
    with pytest.raises(Boom):
        c.put(k, r)
    monkeypatch.undo()
    assert c.get(k) is None
    assert list(tmp_path.iterdir()) == []  # no entry, no temporary file


def test_unwritable_cache_root(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = ResultCache(blocker / "cache")
    r = make_result()
    with pytest.raises(OutputError) as e:
        c.put(c.key_for(r), r)
    assert str(blocker / "cache") in str(e.value)
    assert c.get(c.key_for(r)) is None


def test_clear_and_bad_key(tmp_path):
    c = ResultCache(tmp_path)
    r = make_result()
    c.put(c.key_for(r), r)
    (tmp_path / ".x.json.abc.part").write_text("half")
    assert c.clear() == 2 and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        c.get("../etc/passwd")
