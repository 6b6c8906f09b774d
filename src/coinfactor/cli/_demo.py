"""``coinfactor demo [--out DIR]``: every study on the embedded data, reports and an index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors
from coinfactor.studies import DEFAULT_OUT, run_demo


def _fmt(key: str, value: object) -> str:
    """Write the metric as the reports do (plain text: the table is not HTML)."""
    from coinfactor.report import format_metric, metric_label

    label = metric_label(key)
    if label is not None:
        return format_metric(label.kind, value)
    return format_metric("number", value)


def _label(key: str) -> str:
    from coinfactor.report import metric_label

    label = metric_label(key)
    return key if label is None else label.text


@app.command("demo")
def demo_command(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Directory to write (one run "
                             "directory per study, report.html in each, demo.html index)."),
) -> None:
    """Run every study with its default config on the embedded datasets and write reports."""
    from coinfactor.studies import STUDIES

    with user_errors(), Progress(
        TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as bars:
        tasks = {name: bars.add_task(name, total=1.0, start=False) for name in sorted(STUDIES)}

        def progress(name: str, frac: float) -> None:
            bars.start_task(tasks[name])  # the clock of a study starts with its first report
            bars.update(tasks[name], completed=min(max(frac, 0.0), 1.0))

        result = run_demo(out, progress=progress)
    table = Table(title="coinfactor demo: key metrics", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_lines=True)
    table.add_column("study", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("result", ratio=3, min_width=30)
    table.add_column("key metrics", ratio=2, min_width=28)
    for r in result.runs:
        secs = f"{r.seconds:.0f}"
        if r.error:
            reason = r.error.strip().splitlines()[-1]
            table.add_row(Text(r.study), secs, Text(f"failed: {reason}", style="red"),
                          Text("none: the study did not finish"))
            continue
        head = r.headline(limit=None)
        lines = [f"{_label(k)}: {_fmt(k, v)}" for k, v in head.items()]
        table.add_row(Text(r.study), secs, Text(r.reading or "no reading for this study"),
                      Text("\n".join(lines) or "no metrics reported"))
    console.print(table)
    console.print(f"wrote {result.index} (open it in a browser)")
    if not result.ok:
        raise typer.Exit(code=1)
