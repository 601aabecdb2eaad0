"""Faces: detection (dlib HOG), 68-point landmarks, 5-point alignment to the 224 crop and back, tracking."""
