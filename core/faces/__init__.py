"""Faces in a frame: detection (RetinaFace in ONNX Runtime, dlib HOG and MMOD: `detect`, `retinaface`,
`detector_choice`), 68-point landmarks (`landmarks`, `landmark_sets`), alignment to the 224 crop and back
(`align`), tracking (`track`), the per-frame pipeline over them (`pipeline`), dlib's model files (`dlib_models`),
who a face is (`embedder` computes a descriptor, `descriptor_net` reads and exports dlib's network,
`descriptor_ort` runs it in ONNX Runtime, `identity` compares descriptors: pure numpy, thresholds in
`identity_thresholds`), face thumbnails (`thumbnail`) and labelled boxes for recall measurements (`labels`).

May import: `core.common`, `core.model` (box functions, the ONNX helpers). Knows nothing of videos as files,
analyses, reports or cases."""
