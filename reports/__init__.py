"""reports: the audit's HTML and PDF report, rendered from result files alone.

`clip-audit report DIR` is the entry point (nothing else imports this package). The layout it reads
is described in ``reports.layout``; the sections are summary, contamination (table and Figure 17
analogue), per-dataset detail (class composition, pairs near the threshold as thumbnails),
thresholds (rule, estimated precision and recall), bias probes (rates with intervals and a chart)
and provenance. A section whose result files are absent says "not run".
"""
