"""Domain errors of uploads. Statuses (including tus's 410, 423 and 460) live in api_errors.py."""

from __future__ import annotations

from loadbay.errors import Conflict, InvalidInput, LoadbayError, NotFound, TooLarge


class UploadNotFound(NotFound):
    slug = "upload-not-found"
    title = "Upload not found"


class UploadGone(LoadbayError):
    """The upload existed but was terminated or expired; its data is deleted."""

    slug = "upload-gone"
    title = "Upload gone"


class UploadLocked(LoadbayError):
    """Another request is writing this upload (possibly in another server process)."""

    slug = "upload-locked"
    title = "Upload locked"


class OffsetMismatch(Conflict):
    slug = "upload-offset-mismatch"
    title = "Upload offset mismatch"


class ChecksumMismatch(LoadbayError):
    """The chunk does not match its Upload-Checksum; it was discarded."""

    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class UploadTooLarge(TooLarge):
    slug = "upload-too-large"
    title = "Upload too large"


class UploadNotWritable(LoadbayError):
    """A final (concatenated) upload is assembled by the server; clients cannot append to it."""

    slug = "upload-not-writable"
    title = "Upload not writable"


class InvalidUploadRequest(InvalidInput):
    """A tus request whose headers are well-formed but contradict the upload or each other."""

    slug = "invalid-upload-request"
    title = "Invalid upload request"


class InvalidMetadata(InvalidUploadRequest):
    """Upload-Metadata (or a multipart file name) breaks the rules; nothing was created."""

    slug = "invalid-upload-metadata"
    title = "Invalid upload metadata"


class UploadNotReady(Conflict):
    """The upload is not complete, or it is corrupt: its bytes cannot be imported."""

    slug = "upload-not-ready"
    title = "Upload not ready"
