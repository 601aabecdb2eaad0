"""Training and evaluation of CADDM models: data preparation (`prepare`), the index and its samples (`dataset`,
`mfs`, `sbi`, `pairs`, `dssim`, `augment`), the loss (`loss`), the training loop (`fit`), evaluation (`evaluation`,
`heldout`), the campaign over sessions (`campaign`) and the identity-leakage probe (`probe`).

May import: `core.common`, `core.model`, `core.media`, `core.faces`. Analysis never imports this package, and this
package never imports analysis, reports or cases."""
