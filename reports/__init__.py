"""reports: HTML and PDF reports rendered from result files."""
