"""`caddm-case`: a case file from the command line (docs/CASES.md).

    caddm-case create CASE [--case-id ID] [--analyst NAME] [--notes TEXT]
    caddm-case add CASE [VIDEO ...] [--from-screen RESULT ...] [--analyst NAME]
    caddm-case info CASE
    caddm-case verify CASE [--no-files]
    caddm-case log CASE
    caddm-case flag CASE ITEM INDEX [--off] [--track] [--analyst NAME]
    caddm-case note CASE ITEM INDEX TEXT [--track] [--analyst NAME]
    caddm-case export CASE [ITEM] --out DIR [--format json,csv,html,pdf] [--analysis ID] [--no-frames] [--top N]
    caddm-case import-cache CASE VIDEO [--dry-run] [--analyst NAME]

ITEM: the item number, the evidence file's path or name, or a SHA-256 prefix. INDEX: a frame index (a face track
id with --track). Exit codes: 0 ok (verify: everything matches), 1 a failure or (verify) something changed or
is missing, each named on its own line, 2 usage error. The work lives in `core.case`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.common.errors import CaddmError
from core.common.formatting import fmt_score

PROG = "caddm-case"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Keep a forensic case: evidence, analyses, review, exports "
                                                       "and a chained audit log in one file.",
                                epilog="Exit codes: 0 ok, 1 failure or (verify) a difference, 2 usage error.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def case_arg(sp):
        sp.add_argument("case", metavar="CASE", help="the case file (NAME.caddmcase)")

    def analyst_arg(sp):
        sp.add_argument("--analyst", metavar="NAME", help="who does this (default: the case's analyst)")

    sp = sub.add_parser("create", help="create an empty case")
    case_arg(sp)
    sp.add_argument("--case-id", help="the case id (default: the file's name)")
    sp.add_argument("--analyst", metavar="NAME", help="the case's analyst (default: your login name)")
    sp.add_argument("--notes", default="", help="case notes for the report header")

    sp = sub.add_parser("add", help="add evidence files, or (--from-screen) analyses made by caddm-screen")
    case_arg(sp)
    sp.add_argument("videos", metavar="VIDEO", nargs="*", help="evidence files to add (hashed; not analysed)")
    sp.add_argument("--from-screen", nargs="+", metavar="RESULT", default=[],
                    help="result files of a screen (DIR/results/<sha256>.json): each is recorded as an analysis of "
                         "its evidence file, which is re-hashed and must match")
    analyst_arg(sp)

    sp = sub.add_parser("info", help="case header, evidence items with their verdicts, review, audit")
    case_arg(sp)

    sp = sub.add_parser("verify", help="re-hash evidence and exports, check the audit chain")
    case_arg(sp)
    sp.add_argument("--no-files", action="store_true", help="check the case file only, not the evidence and exports")

    sp = sub.add_parser("log", help="the audit log")
    case_arg(sp)

    sp = sub.add_parser("flag", help="flag (or --off: unflag) a frame or (--track) a face track")
    case_arg(sp)
    sp.add_argument("item", metavar="ITEM")
    sp.add_argument("index", metavar="INDEX", type=int)
    sp.add_argument("--off", action="store_true", help="remove the flag")
    sp.add_argument("--track", action="store_true", help="INDEX is a face track id")
    analyst_arg(sp)

    sp = sub.add_parser("note", help="set the note of a frame or (--track) a face track; an empty TEXT clears it")
    case_arg(sp)
    sp.add_argument("item", metavar="ITEM")
    sp.add_argument("index", metavar="INDEX", type=int)
    sp.add_argument("text", metavar="TEXT")
    sp.add_argument("--track", action="store_true", help="INDEX is a face track id")
    analyst_arg(sp)

    from core.reports import FORMATS
    sp = sub.add_parser("export", help="write the reports of one item or all, with the case's review")
    case_arg(sp)
    sp.add_argument("item", metavar="ITEM", nargs="?", help="default: every item with an analysis")
    sp.add_argument("--out", required=True, metavar="DIR", help="output folder; one sub-folder per item")
    sp.add_argument("--format", default=",".join(FORMATS), help="comma-separated: " + ",".join(FORMATS))
    sp.add_argument("--analysis", type=int, metavar="ID", help="this analysis (default: the item's latest)")
    sp.add_argument("--no-frames", action="store_true",
                    help="reports without frame images (the evidence file is then not needed)")
    sp.add_argument("--top", type=int, default=6, metavar="N", help="most suspicious frames shown (6)")
    analyst_arg(sp)

    sp = sub.add_parser("import-cache", help="import the review flags and notes the result cache holds for a video")
    case_arg(sp)
    sp.add_argument("video", metavar="VIDEO")
    sp.add_argument("--dry-run", action="store_true", help="show what would be imported, change nothing")
    analyst_arg(sp)
    return p


def _notices(case) -> None:
    for n in case.notices:
        print(f"note: {n}", file=sys.stderr)


def _open(path: str, mode: str, analyst: str | None = None):
    from core.case import Case

    case = Case.open(path, mode, analyst=analyst, program=PROG)
    _notices(case)
    return case


def _create(args) -> int:
    from core.case import Case

    with Case.create(args.case, case_id=args.case_id, analyst=args.analyst, notes=args.notes) as case:
        print(f"created case {case.meta.case_id} ({case.path}), analyst {case.meta.analyst}")
    return 0


def _review_counts(review, history: int) -> str:
    parts = [f"{len(review.flags)} flagged frame{'s' * (len(review.flags) != 1)}",
             f"{len(review.notes)} frame note{'s' * (len(review.notes) != 1)}"]
    if review.track_flags or review.track_notes:
        parts += [f"{len(review.track_flags)} flagged track{'s' * (len(review.track_flags) != 1)}",
                  f"{len(review.track_notes)} track note{'s' * (len(review.track_notes) != 1)}"]
    return ", ".join(parts) + f" ({history} review action{'s' * (history != 1)})"


def _add(args) -> int:
    from core.case import CaseError
    from core.analysis.results import load_json
    from core.media.video import probe_video

    if not args.videos and not args.from_screen:
        print(f"{PROG}: error: add: name a VIDEO or --from-screen RESULT", file=sys.stderr)
        return 2
    with _open(args.case, "w", args.analyst) as case:
        for video in args.videos:
            item, new = case.add_evidence(probe_video(video), video)
            print(f"{'added' if new else 'already in the case'}: {video} as evidence item {item.item}")
        for path in args.from_screen:
            result = load_json(path)
            info = probe_video(result.video.path)  # the evidence afresh: its hash must be the one analysed
            if info.sha256 != result.video.sha256:
                raise CaseError(result.video.path, f"has SHA-256 {info.sha256[:16]}... now, but the result {path} "
                                                   f"is of {result.video.sha256[:16]}...")
            _, rec = case.record_run(result.video.path, info, result, from_cache=False)
            print(f"recorded: {path} as analysis {rec.id} of evidence item {rec.item} ({rec.verdict.upper()} "
                  f"{fmt_score(rec.video_score, 'n/a')}, {rec.model_name})")
    return 0


def _info(args) -> int:
    with _open(args.case, "r") as case:
        m = case.meta
        audit = case.check_audit()
        exports = case.exports()
        rows = [("Case", m.case_id), ("File", str(case.path)), ("Analyst", m.analyst), ("Created (UTC)", m.created_utc),
                ("Schema", f"{m.schema_version} (written by caddm-inspector {m.software_version})")]
        if m.notes:
            rows.append(("Notes", m.notes))
        rows += [("Audit log", audit.summary()), ("Exports", str(len(exports)))]
        for k, v in rows:
            print(f"{k + ':':15s}{v}")
        from core.analysis.findings import ARTIFACT_VERDICT_WORDS

        items = case.items()
        print(f"Evidence ({len(items)} item{'s' * (len(items) != 1)}):")
        for it in items:
            analyses = case.analyses(it.item)
            last = analyses[-1] if analyses else None
            verdict = "not analysed" if last is None else (
                f"{ARTIFACT_VERDICT_WORDS[last.verdict][0]} {fmt_score(last.video_score, 'n/a')} at threshold "
                f"{last.threshold:g} "
                f"(analysis {last.id}, {last.model_name}{', from the cache' if last.from_cache else ''}; "
                f"{len(analyses)} analys{'i' if len(analyses) == 1 else 'e'}s of this item)")
            print(f"  {it.item}  {it.path}")
            v = it.info
            print(f"     SHA-256 {it.sha256}, {v.width}x{v.height}, {v.fps:.3f} fps, {v.frame_count} frames")
            print(f"     {verdict}")
            print(f"     review: {_review_counts(case.review(it.item), len(case.review_history(it.item)))}")
    return 0


def _verify(args) -> int:
    with _open(args.case, "r") as case:
        report = case.verify(files=not args.no_files)
    for f in report.findings:
        print(f.line())
    print(f"{'OK' if report.integrity == 'ok' else 'DAMAGED':8s} database integrity: {report.integrity}")
    print(f"{'OK' if report.audit.ok else 'CHANGED':8s} audit log: {report.audit.summary()}")
    for p in report.audit.problems:
        print(f"CHANGED  audit: {p}")
    if report.ok:
        print(f"case verified: {args.case}")
        return 0
    print(f"case NOT verified: {args.case}: {len(report.problems)} problem{'s' * (len(report.problems) != 1)}",
          file=sys.stderr)
    return 1


def _log(args) -> int:
    from core.case import canonical_json

    with _open(args.case, "r") as case:
        for e in case.audit():
            detail = {k: v for k, v in e.detail.items() if k != "rows"}
            print(f"{e.seq:5d}  {e.utc}  {e.actor}  [{e.origin}]  {e.action}  {canonical_json(detail)}")
    return 0


def _review(args) -> int:
    target = "track" if args.track else "frame"
    with _open(args.case, "w", args.analyst) as case:
        it = case.find_item(args.item)
        if args.command == "flag":
            action = case.set_flag(it.item, args.index, not args.off, target)
            what = "unflagged" if args.off else "flagged"
        else:
            action = case.set_note(it.item, args.index, args.text, target)
            what = "note cleared" if not args.text.strip() else "note set"
        where = f"item {it.item} ({it.name}) {target} {args.index}"
        if action is None:
            print(f"unchanged: {where} (already {'so' if args.command == 'flag' else 'this note'})")
            return 0
        print(f"{what}: {where} (review action {action.id}, by {action.author}, {action.utc})")
        if target == "frame":
            rec = case.latest_analysis(it.item)
            if rec is not None and case.result(rec.id).frame(args.index) is None:
                print(f"note: frame {args.index} is not among the frames analysed by analysis {rec.id}; reports list "
                      "reviewed frames that were analysed", file=sys.stderr)
    return 0


def _export(args) -> int:
    from core.common.atomic import ensure_output_dir
    from core.case import CaseReadOnlyError, check_evidence_file
    from core.cli.analyze import _out_dirs
    from core.reports import FORMATS, write_reports

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        print(f"{PROG}: error: unknown report format(s) {', '.join(bad) or '(none)'}; choose from "
              f"{', '.join(FORMATS)}", file=sys.stderr)
        return 2
    try:
        case = _open(args.case, "w", args.analyst)
    except CaseReadOnlyError as e:
        case = _open(args.case, "r", args.analyst)
        print(f"note: {e}; the reports are written but this export is not recorded in the case", file=sys.stderr)
    failed = False
    with case:
        items = [case.find_item(args.item)] if args.item else case.items()
        chosen = []
        for it in items:
            rec = case.analysis(args.analysis) if args.analysis is not None else case.latest_analysis(it.item)
            if rec is not None and rec.item != it.item:
                raise CaddmError(case.path, f"analysis {rec.id} is of item {rec.item}, not of item {it.item}")
            if rec is None:
                print(f"{'error' if args.item else 'note'}: item {it.item} ({it.name}) has no analysis; nothing to "
                      "export", file=sys.stderr)
                failed = failed or bool(args.item)
                continue
            chosen.append((it, rec))
        out = ensure_output_dir(args.out)
        for (it, rec), folder in zip(chosen, _out_dirs([Path(it.path) for it, _ in chosen], out)):
            result = case.report_result(rec.id)
            try:
                if args.no_frames:
                    written = write_reports(result, folder, formats, None, args.top)
                else:
                    from core.media.video import VideoReader

                    check_evidence_file(f"evidence item {it.item}", it.abs_path, it.sha256,
                                        "; --no-frames writes the reports without frame images")
                    with VideoReader(it.abs_path) as reader:
                        written = write_reports(result, folder, formats, reader.read_frame, args.top)
            except CaddmError as e:
                print(f"error: {e}", file=sys.stderr)
                failed = True
                continue
            recorded = ""
            if case.writable:
                records = case.record_exports(it.item, rec.id, written)
                recorded = f"; recorded as export{'s' * (len(records) != 1)} " \
                           f"{', '.join(str(r.id) for r in records)}"
            s = result.summary
            print(f"item {it.item} ({it.name}): {result.findings().headline} {fmt_score(s.video_score, 'n/a')}, analysis "
                  f"{rec.id} -> {folder} ({', '.join(written)}{recorded})")
    return 1 if failed else 0


def _import_cache(args) -> int:
    from core.analysis.cache import ResultCache
    from core.case import accept_review_offer, offer_cached_review
    from core.media.video import probe_video

    info = probe_video(args.video)
    cache = ResultCache()
    with _open(args.case, "r" if args.dry_run else "w", args.analyst) as case:
        offer = offer_cached_review(case, info.sha256, cache)
        item = case.item_by_sha(info.sha256)
        label = f"item {item.item} ({item.name})" if item else f"{args.video} (not yet in the case)"
        if not offer.sources:
            print(f"nothing to import: the result cache {cache.root} holds no review of {args.video} "
                  f"(SHA-256 {info.sha256})")
            return 0
        print(f"the result cache holds a review of {args.video} in {len(offer.sources)} entr"
              f"{'y' if len(offer.sources) == 1 else 'ies'}: {', '.join(p.name for p in offer.sources)}")
        for target, index, kind, value in offer.actions:
            print(f"  {'would import' if args.dry_run else 'import'}: {target} {index} "
                  f"{'flag' if kind == 'flag' else 'note ' + repr(value)}")
        for c in offer.conflicts:
            print(f"  conflict: {c}")
        if not offer.actions:
            print(f"nothing to import: {label} has this review already")
            return 0
        if args.dry_run:
            print(f"dry run: {len(offer.actions)} action{'s' * (len(offer.actions) != 1)} would go to {label}")
            return 0
        if item is None:
            item, _ = case.add_evidence(info, args.video)
            print(f"added {args.video} as evidence item {item.item}")
        done = accept_review_offer(case, item.item, offer)
        print(f"imported {len(done)} review action{'s' * (len(done) != 1)} into item {item.item} ({item.name})")
    return 0


COMMANDS = {"create": _create, "add": _add, "info": _info, "verify": _verify, "log": _log, "flag": _review, "note": _review,
            "export": _export, "import-cache": _import_cache}


def main(argv: list[str] | None = None) -> int:
    from core.common.threads import configure_threads

    configure_threads()  # before anything loads torch (export, import-cache read video)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as e:  # from argparse only: --help (0) or a usage error (2)
        return 0 if e.code in (0, None) else 2
    except CaddmError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (every action acknowledged before is in the case)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
