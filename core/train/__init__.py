"""Training and evaluation of CADDM models: data preparation (`prepare`), the index and MFS samples (`dataset`,
`mfs`, `dssim`, `augment`), the loss (`loss`), the training loop (`fit`) and evaluation (`evaluation`). Analysis
never imports this package."""
