"""Reports: figures (plot.py), the text summary (summary.py) and the self-contained HTML report (report.py)."""
from .plot import plot_run
from .report import write_report
from .summary import write_summary

__all__ = ["plot_run", "write_report", "write_summary"]
