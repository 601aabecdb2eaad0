"""What the analyst does with a case file in the app (docs/CASES.md): create, open (read-only when another writer
holds it or it cannot be written), close, add videos, open an item; and, while a case is open, the case's side of
opening, analysing, reviewing and exporting a video. No widgets: the window asks (file names, "open read-only?",
"import the cached review?") and calls these; tests call them directly.

The work is `core.case.Case`; the open case is `state.case`. A case is used on the UI thread only (its SQLite
connection belongs to the thread that opened it): workers hash videos and write reports, never touch the case.

With a case open:
- a video opened shows the case's analysis of it when the case holds one (never re-run, never from the cache),
  with the case's review; a video not in the case becomes an evidence item when it is analysed, reviewed, exported
  or its cached review is imported;
- every flag and note is recorded in the case at once (`Case.set_flag` / `set_note`), nothing in the cache;
- each complete analysis is recorded (`Case.record_run`); reports carry the case's header and review and are
  recorded (`Case.record_exports`) after the evidence file is re-hashed;
- review work the result cache holds for the video and the case lacks is offered for import (`reviewOffered`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from core.case import (CASE_SUFFIX, Case, CaseLockedError, CaseReadOnlyError, ReviewOffer, accept_review_offer,
                       offer_cached_review)
from core.common.errors import CaddmError, VideoError
from core.analysis.results import AnalysisResult, Review
from core.media.video import probe_video

PROGRAM = "caddm-gui"
CASE_FILTER = f"CADDM Inspector case (*{CASE_SUFFIX});;All files (*)"


@dataclass
class CaseExport:
    """A report about to be written from the open case: the result as the case reports it (header, review), and
    what its files are recorded under."""

    case: Case
    item: int
    analysis: int | None
    sha256: str
    result: AnalysisResult


def case_path(path: str | os.PathLike) -> str:
    """An absolute path ending in .caddmcase (added when a save dialog left it out)."""
    path = os.path.abspath(os.fspath(path))
    return path if path.endswith(CASE_SUFFIX) else path + CASE_SUFFIX


class CaseCommands(QObject):
    caseLocked = Signal(str, str, str)  # path, message, the writer that holds it (the window offers read-only)
    reviewOffered = Signal(object)     # core.case.ReviewOffer: the cache holds review work the case lacks
    videosAdded = Signal(object)       # [item numbers] added (or found) by add_videos

    def __init__(self, commands):
        super().__init__(commands)
        self.commands = commands
        self.state = commands.state
        self._expect = None            # (path, EvidenceItem) being opened from the case panel

    @property
    def case(self) -> Case | None:
        return self.state.case

    def _changed(self) -> None:
        self.state.caseChanged.emit()

    def _idle(self, what: str) -> bool:
        if self.state.busy:
            self.state.warning(f"An analysis is running: cancel it before {what}.")
            return False
        return True

    # -- open and close --------------------------------------------------------------------------------------------
    def new_case(self, path: str | os.PathLike, case_id: str = "", analyst: str = "", notes: str = "") -> bool:
        """Create a case file (case id: the file's name unless given; analyst: the login name unless given)."""
        if not self._idle("creating a case"):
            return False
        path = case_path(path)
        try:
            case = Case.create(path, case_id=case_id.strip() or None, analyst=analyst.strip() or None,
                               notes=notes.strip())
        except CaddmError as e:
            self.state.error(str(e))
            return False
        self._install(case)
        return True

    def open_case(self, path: str | os.PathLike, read_only: bool = False, why: str = "") -> bool:
        """Open a case for writing; read-only when asked (`why`: the reason shown), or when the file cannot be
        written (permissions, a newer schema). Another writer holding it: an error naming it and `caseLocked`."""
        s = self.state
        if not self._idle("opening a case"):
            return False
        path = os.path.abspath(os.fspath(path))
        if s.case is not None and str(s.case.path) == path and (read_only or s.case.writable):
            s.info_msg(f"The case {s.case.meta.case_id} ({path}) is open already.")
            return True
        if s.case is not None and str(s.case.path) == path:
            self._close()  # this window's own writer lock would refuse it
        try:
            case = Case.open(path, "r" if read_only else "w", program=PROGRAM)
            reason = why or "opened read-only"
        except CaseLockedError as e:
            s.error(str(e))
            self.caseLocked.emit(path, str(e), e.holder)
            return False
        except CaseReadOnlyError as e:   # the file or its folder is not writable, or a newer schema
            try:
                case = Case.open(path, "r", program=PROGRAM)
            except CaddmError as e2:
                s.error(str(e2))
                return False
            reason = e.problem.split(": it can be read")[0]
        except CaddmError as e:          # missing, not a case, another program's database, damaged
            s.error(str(e))
            return False
        if not case.writable:
            case.read_only_reason = reason
        self._install(case)
        return True

    def _install(self, case: Case) -> None:
        s, c = self.state, self.commands
        c.flush_review()   # a review change still waiting goes where it was made (the cache without a case)
        if s.case is not None:
            self._close()
        s.set_case(case)
        c.prefs.add_recent(str(case.path), "recent_cases")
        c.save_prefs()
        n = len(case.items())
        mode = "" if case.writable else f"; READ-ONLY: {case.read_only_reason}"
        s.info_msg(f"Case {case.meta.case_id} ({case.path.name}, analyst {case.meta.analyst}): {n} evidence "
                   f"item{'s' * (n != 1)}{mode}.")
        for note in case.notices:
            s.warning(note)
        self._reopen_video()

    def _close(self) -> None:
        case = self.state.case
        if case is not None:
            try:
                case.close()
            finally:
                self.state.set_case(None)

    def close_case(self) -> bool:
        """Close the case (its writer lock is released); the open video is shown again as outside any case."""
        s = self.state
        if s.case is None:
            return False
        if not self._idle("closing the case"):
            return False
        name = s.case.meta.case_id
        self.commands.flush_review()
        self._close()
        s.info_msg(f"Case {name} closed.")
        self._reopen_video()
        return True

    def shutdown(self) -> None:
        self._close()

    def _reopen_video(self) -> None:
        """Show the open video as the case now sees it (its analysis and review, or the cache's without a case)."""
        if self.state.video_path is not None:
            self.commands.open_video(self.state.video_path)

    # -- items -----------------------------------------------------------------------------------------------------
    def _writable(self, what: str) -> Case | None:
        s = self.state
        if s.case is None:
            s.warning(f"Open or create a case first (File > Open case / New case) before {what}.")
            return None
        if not s.case.writable:
            s.warning(f"The case {s.case.path.name} is open read-only ({s.case.read_only_reason}): {what} is not "
                      "possible.")
            return None
        return s.case

    def add_videos(self, paths) -> bool:
        """Add videos to the case as evidence (hashed and probed in a worker; each added once per SHA-256). They
        are analysed when opened and analysed."""
        case = self._writable("adding videos")
        paths = [os.path.abspath(os.fspath(p)) for p in paths]
        if case is None or not paths:
            return False

        def probe_all():
            out = []
            for p in paths:
                try:
                    out.append((p, probe_video(p), None))
                except CaddmError as e:
                    out.append((p, None, str(e)))
                except OSError as e:
                    out.append((p, None, str(VideoError(p, f"cannot be read ({e.strerror or e})"))))
            return out

        self.state.info_msg(f"Computing the SHA-256 of {len(paths)} video{'s' * (len(paths) != 1)} for the case...")
        self.commands._task(probe_all, lambda out, c=case: self._add_probed(c, out), name="case-add")
        return True

    def _add_probed(self, case: Case, probed) -> None:
        s = self.state
        if s.case is not case:
            s.warning("The case was closed before the videos were hashed: none was added.")
            return
        added, present, failed = [], [], [err for _, info, err in probed if info is None]
        for path, info, _ in probed:
            if info is None:
                continue
            try:
                item, new = case.add_evidence(info, path)
            except CaddmError as e:
                failed.append(str(e))
                continue
            (added if new else present).append(item)
        self._changed()
        parts = []
        if added:
            parts.append("added " + ", ".join(f"item {i.item} {i.name}" for i in added))
        if present:
            parts.append("in the case already: " + ", ".join(f"{os.path.basename(i.path)} (item {i.item})"
                                                             for i in present))
        if parts:
            s.info_msg(f"Case {case.meta.case_id}: " + "; ".join(parts) + ".")
        if failed:
            s.error("Not added to the case: " + "; ".join(failed))
        if self.state.case_item is None and self.state.info is not None:
            item = case.item_by_sha(self.state.info.sha256)   # the open video was one of them
            self.state.case_item = item.item if item else None
        self.videosAdded.emit([i.item for i in added + present])

    def open_item(self, item: int) -> bool:
        """Open an item's evidence file (its analysis and review come from the case)."""
        s = self.state
        if s.case is None:
            return False
        try:
            it = s.case.item(item)
        except CaddmError as e:
            s.error(str(e))
            return False
        self._expect = (os.path.abspath(it.abs_path), it)
        if not self.commands.open_video(it.abs_path):
            self._expect = None
            return False
        return True

    # -- the open video (called by Commands) -------------------------------------------------------------------------
    def review(self) -> Review | None:
        """The review to show with the open video: the case's (empty for a video not in it), None without a case."""
        s = self.state
        if s.case is None:
            return None
        return s.case.review(s.case_item) if s.case_item is not None else Review()

    def video_probed(self, info) -> AnalysisResult | None:
        """The hash of the open video is known: find its item; the case's analysis of it to show (its latest
        complete one, else its latest), or None."""
        s, case = self.state, self.state.case
        expect, self._expect = self._expect, None
        expect = expect[1] if expect is not None and expect[0] == os.path.abspath(info.path) else None
        if case is None:
            return None
        try:
            item = case.item_by_sha(info.sha256)
            if expect is not None and (item is None or item.item != expect.item):
                s.warning(f"{info.path}: this is not the file evidence item {expect.item} of the case recorded "
                          f"(SHA-256 now {info.sha256[:16]}..., the case recorded {expect.sha256[:16]}...); it is "
                          "shown as a video outside the case's items")
            if item is None:
                if case.writable:
                    s.info_msg(f"{os.path.basename(info.path)} is not in case {case.meta.case_id}: analysing, "
                               "reviewing or exporting it adds it as evidence.")
                return None
            s.case_item = item.item
            rec = case.latest_analysis(item.item, complete=True) or case.latest_analysis(item.item)
            if rec is None:
                return None
            result = case.result(rec.id)
        except CaddmError as e:
            s.error(str(e))
            return None
        result.video.path = info.path
        s.case_analysis = rec.id
        s.info_msg(f"Loaded analysis {rec.id} of item {item.item} ({item.name}) from case {case.meta.case_id} "
                   f"({len(result.frames)} frames, model {result.model.name}, recorded {rec.recorded_utc}).")
        return result.with_threshold(s.threshold)

    def offer_cached(self, info, found) -> None:
        """Offer the review work the result cache holds for the open video and the case lacks (`reviewOffered`)."""
        case = self.state.case
        if case is None or not case.writable or not found:
            return
        try:
            offer = offer_cached_review(case, info.sha256, found=found)
        except CaddmError as e:
            self.state.error(str(e))
            return
        if offer.actions:
            self.reviewOffered.emit(offer)

    def accept_offer(self, offer: ReviewOffer) -> bool:
        """Import an offered cached review into the open video's item (adding the video and the shown analysis
        when the case lacks them)."""
        s, case = self.state, self._writable("importing a review")
        if case is None:
            return False
        try:
            item = self.ensure_recorded()
            done = accept_review_offer(case, item, offer)
            if s.result is None:   # the offer brought the case an analysis of the video: show it
                result = self.video_probed(s.info)
                if result is not None:
                    s.set_result(result, review=case.review(item))
            s.set_review(case.review(item))
        except CaddmError as e:
            s.error(str(e))
            return False
        finally:
            self._changed()
        s.info_msg(f"Imported {len(done)} review action{'s' * (len(done) != 1)} from the result cache into item "
                   f"{item} of case {case.meta.case_id}.")
        return True

    def ensure_recorded(self, incomplete: bool = False) -> int:
        """The open video's item, added as evidence when the case lacks it; the shown result recorded as an
        analysis of it when the case lacks it (a complete one; `incomplete`: a cancelled run's too). CaddmError
        when the case cannot record them."""
        s, case = self.state, self.state.case
        if s.case_item is None:
            if s.info is None:
                raise CaddmError(s.video_path, "its SHA-256 is still being computed; try again in a moment")
            item, _ = case.add_evidence(s.info, s.video_path)
            s.case_item = item.item
            s.info_msg(f"{item.name} added to case {case.meta.case_id} as evidence item {item.item}.")
        if s.case_analysis is None and s.result is not None and (s.result.complete or incomplete):
            s.case_analysis = case.record_analysis(s.case_item, s.result, from_cache=s.from_cache).id
        return s.case_item

    def record_review(self, target: str, index: int, kind: str, value) -> bool:
        """A flag (`value` bool) or note (text) about to be made: recorded in the case when one is open. False when
        it is refused (a read-only case, the hash not known yet, a failed write): a message says why."""
        s, case = self.state, self.state.case
        if case is None:
            return True
        refused = s.review_refused()
        if refused:
            s.warning(refused)
            return False
        try:
            item = self.ensure_recorded()
            if kind == "flag":
                case.set_flag(item, index, bool(value), target)
            else:
                case.set_note(item, index, str(value), target)
        except CaddmError as e:
            s.error(str(e))
            return False
        finally:
            self._changed()
        return True

    def analysed(self, result: AnalysisResult, cached: bool, started_utc: str | None) -> None:
        """A finished analysis of the open video: recorded in the case (the video added as evidence when new)."""
        s, case = self.state, self.state.case
        if case is None or not result.complete:
            return
        if not case.writable:
            s.warning(f"The case {case.path.name} is open read-only: this analysis is not recorded in it.")
            return
        try:
            _, rec = case.record_run(s.video_path, result.video, result, cached, started_utc)
        except CaddmError as e:
            s.error(str(e))
            return
        s.case_item, s.case_analysis = rec.item, rec.id
        self._changed()

    def prepare_export(self, result: AnalysisResult) -> CaseExport | None:
        """The report of the shown result from the open case (header, review), or None without a case or for a
        video outside a read-only case. CaddmError when the case cannot record the item or its analysis."""
        s, case = self.state, self.state.case
        if case is None:
            return None
        if case.writable:
            self.ensure_recorded(incomplete=True)
            self._changed()
        if s.case_item is None:
            return None
        return CaseExport(case, s.case_item, s.case_analysis, case.item(s.case_item).sha256,
                          case.as_report(result, s.case_item))

    def exported(self, export: CaseExport, written: dict) -> str:
        """Record the written report files in the case; what the message adds about it."""
        case = export.case
        if self.state.case is not case:
            return "; the case was closed meanwhile: not recorded in it"
        if not case.writable or export.analysis is None:
            return f"; not recorded in the case ({case.read_only_reason})"
        try:
            records = case.record_exports(export.item, export.analysis, written)
        except CaddmError as e:
            self.state.error(str(e))
            return "; NOT recorded in the case"
        finally:
            self._changed()
        return f"; recorded in case {case.meta.case_id} as export{'s' * (len(records) != 1)} " \
               f"{', '.join(str(r.id) for r in records)}"
