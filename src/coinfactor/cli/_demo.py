"""``coinfactor demo [--out DIR]``: every study on the embedded data, reports and an index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from coinfactor.cli._app import app, console
from coinfactor.cli._errors import user_errors
from coinfactor.studies import DEFAULT_OUT, KEY_METRICS, run_demo


def _fmt(key: str, value: object) -> str:
    from coinfactor.report import format_value

    return format_value(key, value)


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
                  pad_edge=False, collapse_padding=True)
    main = KEY_METRICS
    table.add_column("study", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    labels = {"annual_return": "return/yr", "annual_volatility": "vol/yr",
              "sharpe_ratio": "Sharpe", "max_drawdown": "max DD",
              "annual_turnover": "turns/yr", "annual_cost_return": "costs/yr"}
    for key in main:
        label = labels.get(key, key)
        table.add_column(label, justify="right", no_wrap=True, min_width=len(label))
    notes = []
    for r in result.runs:
        secs = f"{r.seconds:.0f}"
        if r.error:
            table.add_row(r.study, secs, "[red]failed[/]", *[""] * (len(main) - 1))
            notes.append(f"{r.study}: failed: {r.error.strip().splitlines()[-1]}")
            continue
        head = r.headline(limit=len(main))
        if not set(head) & set(main):  # e.g. a risk model: no P&L, show its own numbers
            table.add_row(r.study, secs, *["-"] * len(main))
            notes.append(f"{r.study}: " + ", ".join(f"{k} {_fmt(k, v)}"
                                                    for k, v in list(head.items())[:4]))
            continue
        table.add_row(r.study, secs, *(_fmt(k, head[k]) if k in head else "" for k in main))
    console.print(table)
    for note in notes:
        console.print(note, markup=False, highlight=False)
    console.print(f"wrote {result.index} (open it in a browser)")
    if not result.ok:
        raise typer.Exit(code=1)
