"""audit: overlap search, thresholds, contamination statistics, bias probes and the command line."""
