"""`python -m bench`: open-loop load, latency at an SLO, cost per million predictions, a report."""
