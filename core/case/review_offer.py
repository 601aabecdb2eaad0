"""Review work found outside a case (the app's result cache) offered to it: what importing would add, what
conflicts, and the import itself."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.analysis.results import AnalysisResult, Review
from core.case.audit import result_blob
from core.case.records import ReviewAction
from core.case.store import Case

def review_import_plan(current: Review, offered: Review) -> tuple[list[tuple[str, int, str, str]], list[str]]:
    """What importing `offered` (e.g. a cached result's review) into an item whose review is `current` would
    record: (actions (target, index, kind, value) that add what the case lacks, conflicts). Imports only add: a
    flag the case has stays; a note the case has with other text is a conflict and is left as it is."""
    actions: list[tuple[str, int, str, str]] = []
    conflicts: list[str] = []
    for target, flags, notes, have_flags, have_notes in (
            ("frame", offered.flags, offered.notes, current.flags, current.notes),
            ("track", offered.track_flags, offered.track_notes, current.track_flags, current.track_notes)):
        actions += [(target, i, "flag", "1") for i in sorted(flags - have_flags)]
        for i in sorted(notes):
            text = notes[i].strip()
            if not text or have_notes.get(i) == text:
                continue
            if i in have_notes:
                conflicts.append(f"{target} {i}: the case's note {have_notes[i]!r} kept, the offered note {text!r} "
                                 "not imported")
            else:
                actions.append((target, i, "note", text))
    return actions, conflicts


@dataclass
class ReviewOffer:
    """Review work found outside the case for one video (e.g. the app's result cache): where it was found
    (`sources`), those `results`, and what importing it would record (`actions`) or leave (`conflicts`); see
    `review_import_plan`. Cache entries are merged oldest first: a later entry's note on the same frame wins."""

    sources: list[Path]
    results: list[AnalysisResult]
    offered: Review
    actions: list[tuple[str, int, str, str]]
    conflicts: list[str]


def offer_cached_review(case: Case, video_sha256: str, cache=None, found=None) -> ReviewOffer:
    """The review flags and notes the result cache (`core.analysis.cache.ResultCache`) holds for the video with this
    SHA-256, as an offer for the case's item of that video (no item yet: everything is offered). `found`: the
    cache's entries for the video when they were read already (`cache.results_for_video`, e.g. in a worker)."""
    if found is None:
        found = cache.results_for_video(video_sha256)
    found = [(p, r) for p, r in found
             if r.review.flags or r.review.notes or r.review.track_flags or r.review.track_notes]
    offered = Review()
    for _, r in found:
        offered.flags |= r.review.flags
        offered.notes.update(r.review.notes)
        offered.track_flags |= r.review.track_flags
        offered.track_notes.update(r.review.track_notes)
    item = case.item_by_sha(video_sha256)
    actions, conflicts = review_import_plan(case.review(item.item) if item else Review(), offered)
    return ReviewOffer([p for p, _ in found], [r for _, r in found], offered, actions, conflicts)


def accept_review_offer(case: Case, item: int, offer: ReviewOffer) -> list[ReviewAction]:
    """Import an offer into `item`: first the cached analyses it came from that the case lacks (recorded as
    analyses from the cache), then the review actions, one transaction and one audit entry."""
    have = {a.result_sha256 for a in case.analyses(item)}
    for result in offer.results:
        if result_blob(result)[0] not in have:
            have.add(case.record_analysis(item, result, from_cache=True).result_sha256)
    source = "cache " + ", ".join(p.name for p in offer.sources)
    return case.import_review(item, offer.actions, source)
