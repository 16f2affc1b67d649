"""Domain errors of URL and REST sources. They carry no HTTP: api_errors.py maps them.

They arise in the fetch job and become the import's ``failure`` (type = slug); only the
checks made when the import is requested (OutboundRefused, from the outbound layer) answer
the request itself.
"""

from __future__ import annotations

from loadbay.errors import LoadbayError, TooLarge


class SourceFailed(LoadbayError):
    """The remote answered something that cannot be imported (not JSON, no records where
    records_path points, pagination that does not advance…)."""

    slug = "source-failed"
    title = "Source failed"


class SourceHTTPError(SourceFailed):
    """The remote answered a non-2xx status that retrying did not change."""

    slug = "source-http-error"
    title = "Source answered an error"

    def __init__(self, *, method: str, url: str, status: int, reason: str) -> None:
        text = f"{status} {reason}".rstrip()
        super().__init__(f"{method} {url} answered {text}", url=url, upstream_status=status)
        self.status = status


class SourceAuthFailed(SourceFailed):
    """Credentials were refused: by the token endpoint, or by the API after a new token."""

    slug = "source-auth-failed"
    title = "Source refused the credentials"


class SourceTooLarge(TooLarge):
    """What the source delivers is larger than one upload may be."""

    slug = "source-too-large"
    title = "Source too large"
