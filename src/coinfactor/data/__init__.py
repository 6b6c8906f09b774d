"""Data layer: canonical panel, grid, decision times, readers, funding, resampling, store."""

from coinfactor.data import store
from coinfactor.data._decisions import anchor_decisions, check_time_zone, decision_times
from coinfactor.data._funding import (
    FUNDING_EVENT_SCHEMA,
    attach_funding,
    funding_to_bars,
    snap_funding_events,
    validate_funding_events,
)
from coinfactor.data._grid import Grid, shared_grid
from coinfactor.data._readers import read_bars, read_funding, read_panel_with_funding
from coinfactor.data._resample import regularize, resample
from coinfactor.data._schema import (
    FILLED_COLUMN,
    OPTIONAL_COLUMNS,
    PANEL_SCHEMA,
    REQUIRED_COLUMNS,
    TS_DTYPE,
    infer_freq,
    validate_panel,
)

__all__ = [
    "FILLED_COLUMN",
    "FUNDING_EVENT_SCHEMA",
    "OPTIONAL_COLUMNS",
    "PANEL_SCHEMA",
    "REQUIRED_COLUMNS",
    "TS_DTYPE",
    "Grid",
    "anchor_decisions",
    "attach_funding",
    "check_time_zone",
    "decision_times",
    "funding_to_bars",
    "infer_freq",
    "read_bars",
    "read_funding",
    "read_panel_with_funding",
    "regularize",
    "resample",
    "shared_grid",
    "snap_funding_events",
    "store",
    "validate_funding_events",
    "validate_panel",
]
