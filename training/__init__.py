"""Fitting the feature pipeline and LightGBM, calibration, evaluation and the MLflow registry."""
