"""The bundled files, installed as the package `caddm_resources`: models/ (the default model and its card) and
samples/ (demonstration clips). Find them with `core.common.resources`."""
