"""Reports written from an analysis result: report.json, frames.csv, report.html, report.pdf."""
