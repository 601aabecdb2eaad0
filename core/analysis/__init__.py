"""One analysis of one video: the engine (`engine`: frames -> faces -> scores), running it as the CLIs and the app do
(`runner`: model, cache, reference), the result types and their JSON (`frame_results` < `summary`, `identities` <
`results`; rounding in `values`), the result cache (`cache`), the claimed person's reference (`reference` data,
`reference_scan` loading) and the headline (`findings`).

May import: `core.common`, `core.model`, `core.media`, `core.faces`. Knows nothing of reports, cases, screening,
the CLIs or the GUI."""
