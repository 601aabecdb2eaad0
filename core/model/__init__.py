"""The CADDM model: backbones, the ADM and its anchors and boxes (`adm`, `anchors`, `boxes`, `artifacts`), the
network (`caddm`), checkpoints and the registry of known models, input preprocessing, the device choice, and the
runtimes that score face crops (`inference`: torch or ONNX Runtime, `ort_runtime`, generic ONNX helpers in `onnx`).

May import: `core.common`. Knows nothing of videos, faces, analyses, reports or cases."""
