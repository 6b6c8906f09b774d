"""Data layer: the canonical panel, readers, funding placement, resampling, wide arrays."""

from coinfactor.data import store
from coinfactor.data._funding import (
    FUNDING_EVENT_SCHEMA,
    attach_funding,
    funding_to_bars,
    validate_funding_events,
)
from coinfactor.data._readers import read_bars, read_funding, read_panel_with_funding
from coinfactor.data._resample import regularize, resample
from coinfactor.data._schema import (
    OPTIONAL_COLUMNS,
    PANEL_SCHEMA,
    REQUIRED_COLUMNS,
    infer_freq,
    validate_panel,
)
from coinfactor.data._wide import Wide, cell_index, from_wide, time_axis, to_wide

__all__ = [
    "FUNDING_EVENT_SCHEMA",
    "OPTIONAL_COLUMNS",
    "PANEL_SCHEMA",
    "REQUIRED_COLUMNS",
    "Wide",
    "attach_funding",
    "cell_index",
    "from_wide",
    "funding_to_bars",
    "infer_freq",
    "read_bars",
    "read_funding",
    "read_panel_with_funding",
    "regularize",
    "resample",
    "store",
    "time_axis",
    "to_wide",
    "validate_funding_events",
    "validate_panel",
]
