"""The `clip-audit` command line: one subcommand per stage, each defined in `audit/commands/`."""
from __future__ import annotations

import typer

from audit.commands import clip as _clip
from audit.commands import contamination as _contamination
from audit.commands import demo as _demo
from audit.commands import detector as _detector
from audit.commands import embed as _embed
from audit.commands import inspect as _inspect
from audit.commands import overlap as _overlap
from audit.commands import probe as _probe
from audit.commands import report as _report

app = typer.Typer(
    name="clip-audit",
    help="Audit CLIP-style models for test-set contamination and social bias.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Audit CLIP-style models for test-set contamination and social bias."""


for _module in (_contamination, _overlap, _inspect, _detector, _embed, _clip, _demo, _report, _probe):
    _module.register(app)


def main() -> None:
    """Entry point of the console script."""
    app()
