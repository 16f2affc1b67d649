"""loadbay's Python client: ``Client(base_url, api_key)`` and the models it returns.

It depends on httpx and pydantic only, never on the server's modules, so it is cheap to
import in any program that talks to a loadbay server. See docs/client.md.
"""

from loadbay.client.client import Client
from loadbay.client.errors import (
    ImportFailed,
    LoadbayAPIError,
    LoadbayClientError,
    LoadbayTransportError,
    WaitTimeout,
)
from loadbay.client.models import (
    FINAL_STATES,
    RESTING_STATES,
    CellEdit,
    CellError,
    Failure,
    Import,
    ImportCounts,
    ImportEvent,
    ImportOptions,
    ProgressDetail,
    RowsPatchResult,
    Schema,
    Upload,
)
from loadbay.client.uploads import checkpoint_path, default_checkpoint_dir

__all__ = [
    "FINAL_STATES",
    "RESTING_STATES",
    "CellEdit",
    "CellError",
    "Client",
    "Failure",
    "Import",
    "ImportCounts",
    "ImportEvent",
    "ImportFailed",
    "ImportOptions",
    "LoadbayAPIError",
    "LoadbayClientError",
    "LoadbayTransportError",
    "ProgressDetail",
    "RowsPatchResult",
    "Schema",
    "Upload",
    "WaitTimeout",
    "checkpoint_path",
    "default_checkpoint_dir",
]
