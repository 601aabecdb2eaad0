"""Evidence media: the evidence record and which files are videos (`evidence`), decoding frames (`video`, OpenCV),
what the container says (`container`, PyAV), which frames to analyse (`frames`) and seek previews (`proxy`).

May import: `core.common`. Knows nothing of the model, faces, analyses, reports or cases."""
