"""The bundled default model: it is there, loads from the registry, carries its card, and scores real faces."""
import cv2
import pytest

from core.analysis.engine import AnalysisOptions, analyze_video
from core.model.checkpoints import load_model
from core.media.frames import FrameSelection
from core.model.inference import Predictor
from core.model.registry import DEFAULT_MODEL, REGISTRY, resolve_model
from core.common.resources import resource_path
from tests.conftest import DATA

SAMPLES = resource_path("samples")


@pytest.fixture(scope="module")
def default_model():
    entry = REGISTRY[DEFAULT_MODEL]
    assert entry.available, f"{entry.path} is missing: the bundled default model must ship with the project"
    assert entry.path.stat().st_size < 50 * 2**20
    return load_model(resolve_model(None))


def test_card_holds_measured_figures(default_model):
    card = default_model.metadata
    assert card["name"] == DEFAULT_MODEL
    assert default_model.config.backbone == "efficientnet-lite0"
    for key in ("data", "command", "steps", "training_time_s", "metrics", "limits", "licence", "calibration"):
        assert key in card, key
    assert 0.0 <= card["metrics"]["heldout"]["all fakes vs all real videos"]["video_auc"] <= 1.0
    cal = card["calibration"]
    assert default_model.info.threshold == cal["threshold"] and 0.5 <= cal["threshold"] < 1.0
    assert cal["fpr_real_videos"] <= 0.05  # the rule it was chosen by


def test_scores_a_real_face(default_model):
    """The public-domain astronaut photo, aligned as at test time, gets a valid score and a low one (it is real)."""
    from core.faces.pipeline import FacePipeline

    image = cv2.imread(str(DATA / "astronaut_face.jpg"))
    faces = FacePipeline().process(0, cv2.copyMakeBorder(image, 64, 64, 64, 64, cv2.BORDER_REPLICATE))
    assert len(faces) == 1
    prediction = Predictor(default_model, device="cpu").predict(faces[0].crop[None])[0]
    assert 0.0 <= prediction.prob < default_model.info.default_threshold


def test_bundled_fake_sample_scores_above_the_real_one(default_model):
    predictor = Predictor(default_model, device="cpu")
    options = AnalysisOptions(frames=FrameSelection("count", 8))
    real = analyze_video(SAMPLES / "astronaut_real.mp4", predictor, options)
    fake = analyze_video(SAMPLES / "astronaut_fake.mp4", predictor, options)
    assert real.summary.frames_with_faces == fake.summary.frames_with_faces == 8
    assert fake.summary.video_score > real.summary.video_score + 0.1
    t = default_model.info.default_threshold  # the calibrated threshold: real below, fake above
    assert real.summary.video_score < t <= fake.summary.video_score
    assert sum(len(face.artifacts) for f in fake.frames for face in f.faces) > 0  # local artifact boxes
