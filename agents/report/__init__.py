"""`tagstream report`: one self-contained HTML page (inline CSS and SVG, no scripts, no URLs).

`snapshot` sums up customer records, `history` reads tag-change files into audience sizes over
time and migrations, `charts` turns both into SVG geometry, and `page` renders the Jinja2
templates (autoescaped) under `templates/`. Same inputs (`generated_at` included), same
bytes.
"""

from agents.report.page import TITLE, Pack, Report, ReportInputs, render_report

__all__ = ["TITLE", "Pack", "Report", "ReportInputs", "render_report"]
