"""The identity evidence's thresholds on descriptor distances and what they mean in measurements (the why of
each is in `core.faces.identity`'s docstring and docs/IDENTITY.md). No imports: the findings (`core.analysis.findings`)
and the result types read them without pulling in what computes descriptors."""

SAME_MAX = 0.45
DIFFERENT_MIN = 0.6
MIN_FACES = 3
JUMP_DISTANCE = 0.6

# What the thresholds mean, measured (bench/identity_bench.py; docs/IDENTITY.md "Figures"): videos called
# (same person, inconclusive, different person), the reference cut from the same recording as the genuine video
# (the easiest case; across recordings a genuine person's distances rise). Quoted by `core.analysis.findings`.
MEASURED_GENUINE = (20, 0, 0)      # the claimed person's own FF++ videos (c40 and c23)
MEASURED_SWAPS = (0, 3, 27)        # face swaps of that person's video (Deepfakes, FaceSwap, FaceShifter)
MEASURED_OTHERS = (0, 0, 18)       # real videos of another person
# Tracks of real clips with a face beyond JUMP_DISTANCE, of all tracks measured (bench/identity_bench.py
# --consistency, 58 real clips): a film clip's track holding two people, faces under hair, a face changing at cuts.
MEASURED_REAL_TRACKS_WITH_JUMPS = (4, 62)
