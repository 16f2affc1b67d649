"""HTTP routes of uploads: tus 1.0.0 at ``/api/uploads``, the JSON resource, multipart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from loadbay.api_errors import PROBLEM_JSON, HTTPProblem
from loadbay.context import AppContext, get_context
from loadbay.uploads import metadata as upload_metadata
from loadbay.uploads import service, tus
from loadbay.uploads.errors import UploadNotFound
from loadbay.uploads.models import Upload, UploadKind
from loadbay.uploads.multipart import ENVELOPE_BYTES, read_file_part
from loadbay.uploads.schemas import UploadOut
from loadbay.uploads.store import CHECKSUM_ALGORITHMS, UploadStore

router = APIRouter(prefix=tus.PREFIX, tags=["uploads"])

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"type": "object"}}}}


def get_store(request: Request) -> UploadStore:
    store: UploadStore = request.app.state.upload_store
    return store


Context = Annotated[AppContext, Depends(get_context)]
Store = Annotated[UploadStore, Depends(get_store)]
TusRequest = Depends(tus.require_tus_resumable)


def _upload_id(value: str) -> uuid.UUID:
    upload_id = tus.upload_id_from_path(value)
    if upload_id is None:
        raise UploadNotFound(f"no upload with id {value[:64]!r}")
    return upload_id


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a client that goes away simply ends it early."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


def _progress_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset)}
    if upload.expires_at is not None:
        headers["Upload-Expires"] = tus.http_date(upload.expires_at)
    return headers


@router.options("", status_code=204, summary="tus discovery: version, extensions, limits")
@router.options("/{upload_id}", status_code=204, include_in_schema=False)
def discover(context: Context) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": tus.TUS_VERSION,
            "Tus-Extension": ",".join(tus.TUS_EXTENSIONS),
            "Tus-Max-Size": str(context.settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@router.post(
    "",
    status_code=201,
    summary="Create an upload (tus creation), or send a small file as multipart/form-data",
    responses={
        201: {"model": UploadOut, "description": "multipart: the upload; tus: empty body"},
        400: {"description": "Malformed header or metadata", **_PROBLEM},
        412: {"description": "Unsupported Tus-Resumable", **_PROBLEM},
        413: {"description": "Larger than allowed", **_PROBLEM},
        415: {"description": "Body of another media type", **_PROBLEM},
        460: {"description": "Checksum mismatch (creation-with-upload)", **_PROBLEM},
    },
)
async def create(request: Request, context: Context, store: Store) -> Response:
    if tus.media_type(request) == "multipart/form-data":
        return await _receive_multipart(request, context, store)
    tus.require_tus_resumable(request)
    concat = tus.parse_concat(request)
    if isinstance(concat, list):
        upload = await _create_final(request, context, store, concat)
    else:
        upload = await _create_upload(request, context, store, partial=concat == "partial")
    location = tus.upload_url(request, upload.id, trust_proxy=context.settings.trust_proxy)
    return Response(status_code=201, headers={"Location": location, **_progress_headers(upload)})


async def _create_final(
    request: Request, context: AppContext, store: UploadStore, parts: list[uuid.UUID]
) -> Upload:
    if request.headers.get("upload-length") or request.headers.get("upload-defer-length"):
        raise tus.bad_header(
            "Upload-Length", "a final upload takes its length from its partial uploads"
        )
    if tus.has_body(request):
        raise tus.bad_header("Upload-Concat", "a final upload cannot carry data")
    metadata = request.headers.get("upload-metadata")
    return await asyncio.to_thread(
        service.create_final, context, store, parts=parts, metadata=metadata
    )


async def _create_upload(
    request: Request, context: AppContext, store: UploadStore, *, partial: bool
) -> Upload:
    length = tus.parse_uint(request, "Upload-Length")
    deferred = tus.parse_defer_length(request)
    if length is not None and deferred:
        raise tus.bad_header(
            "Upload-Defer-Length", "send either Upload-Length or Upload-Defer-Length, not both"
        )
    if length is None and not deferred:
        raise tus.bad_header(
            "Upload-Length", "Upload-Length (or Upload-Defer-Length: 1) is required"
        )
    checksum = tus.parse_checksum(request)
    with_data = tus.has_body(request)
    if with_data:
        tus.require_offset_stream(request)
    body_size = tus.content_length(request)
    if length is not None and body_size is not None and body_size > length:
        raise _too_large(
            f"the body has {body_size} bytes, more than the Upload-Length {length}", length
        )
    upload = await asyncio.to_thread(
        service.create_upload,
        context,
        store,
        length=length,
        metadata=request.headers.get("upload-metadata"),
        kind=UploadKind.PARTIAL if partial else UploadKind.SINGLE,
    )
    if not with_data:
        return upload
    return await service.append(  # creation-with-upload
        context,
        store,
        upload_id=upload.id,
        offset=0,
        chunks=_body(request),
        body_size=body_size,
        checksum=checksum,
    )


def _too_large(detail: str, limit: int) -> HTTPProblem:
    """Refused from the headers alone, before anything is created or read."""
    return HTTPProblem(413, "upload-too-large", "Upload too large", detail, limit=limit)


async def _receive_multipart(request: Request, context: Context, store: UploadStore) -> Response:
    limit = context.settings.max_multipart_bytes
    declared = tus.content_length(request)
    if declared is not None and declared > limit + ENVELOPE_BYTES:
        raise _too_large(
            f"the body has {declared} bytes; multipart uploads are limited to {limit} bytes "
            "(LOADBAY_MAX_MULTIPART_BYTES); use tus for larger files",
            limit,
        )
    part = await read_file_part(
        _body(request), request.headers.get("content-type", ""), max_bytes=limit
    )
    pairs: dict[str, bytes] = {}
    if part.filename is not None:
        pairs["filename"] = part.filename.encode()
    if part.content_type:
        pairs["filetype"] = part.content_type.encode()
    pairs.update({name: value.encode() for name, value in part.fields.items()})
    upload = await service.receive_file(
        context,
        store,
        metadata=upload_metadata.encode(pairs) if pairs else None,
        chunks=part.data,
        max_bytes=limit,
    )
    body = (await asyncio.to_thread(_upload_out, context, upload)).model_dump(mode="json")
    location = tus.upload_url(request, upload.id, trust_proxy=context.settings.trust_proxy)
    return JSONResponse(body, status_code=201, headers={"Location": location})


@router.head(
    "/{upload_id}",
    summary="tus: offset, length and metadata of an upload",
    dependencies=[TusRequest],
    responses={
        404: {"description": "Unknown"},
        410: {"description": "Terminated or expired"},
        412: {"description": "Unsupported Tus-Resumable"},
    },
)
async def head(upload_id: str, request: Request, context: Context) -> Response:
    upload = await asyncio.to_thread(service.get_upload, context, upload_id=_upload_id(upload_id))
    headers = _progress_headers(upload) | {"Cache-Control": "no-store"}
    if upload.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.length)
    if upload.upload_metadata:
        headers["Upload-Metadata"] = upload.upload_metadata
    if upload.kind == UploadKind.PARTIAL:
        headers["Upload-Concat"] = "partial"
    elif upload.kind == UploadKind.FINAL:
        trust_proxy = context.settings.trust_proxy
        urls = " ".join(
            tus.upload_url(request, p, trust_proxy=trust_proxy) for p in upload.part_ids
        )
        headers["Upload-Concat"] = f"final;{urls}"
    return Response(status_code=200, headers=headers)


@router.get(
    "/{upload_id}",
    response_model=UploadOut,
    summary="An upload as JSON: size, offset, state, file name, hashes, times",
    responses={
        404: {"description": "Unknown", **_PROBLEM},
        410: {"description": "Gone", **_PROBLEM},
    },
)
def read(upload_id: str, context: Context) -> UploadOut:
    upload = service.get_upload(context, upload_id=_upload_id(upload_id))
    return _upload_out(context, upload)


@router.patch(
    "/{upload_id}",
    status_code=204,
    summary="tus: append data at Upload-Offset",
    dependencies=[TusRequest],
    responses={
        400: {"description": "Malformed header", **_PROBLEM},
        403: {"description": "A final (concatenated) upload", **_PROBLEM},
        404: {"description": "Unknown", **_PROBLEM},
        409: {"description": "Upload-Offset differs from the stored offset", **_PROBLEM},
        410: {"description": "Terminated or expired", **_PROBLEM},
        412: {"description": "Unsupported Tus-Resumable", **_PROBLEM},
        413: {"description": "Past Upload-Length or the maximum size", **_PROBLEM},
        415: {"description": "Not application/offset+octet-stream", **_PROBLEM},
        423: {"description": "Another request is writing this upload", **_PROBLEM},
        460: {"description": "Checksum mismatch; the chunk was discarded", **_PROBLEM},
    },
)
async def append(upload_id: str, request: Request, context: Context, store: Store) -> Response:
    tus.require_offset_stream(request)
    offset = tus.parse_uint(request, "Upload-Offset")
    if offset is None:
        raise tus.bad_header("Upload-Offset", "Upload-Offset is required")
    length = tus.parse_uint(request, "Upload-Length")
    checksum = tus.parse_checksum(request)
    upload = await service.append(
        context,
        store,
        upload_id=_upload_id(upload_id),
        offset=offset,
        chunks=_body(request),
        body_size=tus.content_length(request),
        checksum=checksum,
        length=length,
    )
    return Response(status_code=204, headers=_progress_headers(upload))


@router.delete(
    "/{upload_id}",
    status_code=204,
    summary="tus termination: delete an upload and its data",
    dependencies=[TusRequest],
    responses={
        404: {"description": "Unknown", **_PROBLEM},
        410: {"description": "Already terminated or expired", **_PROBLEM},
        423: {"description": "Another request is writing this upload", **_PROBLEM},
        412: {"description": "Unsupported Tus-Resumable", **_PROBLEM},
    },
)
async def terminate(upload_id: str, context: Context, store: Store) -> Response:
    await service.terminate(context, store, upload_id=_upload_id(upload_id))
    return Response(status_code=204)


def _upload_out(context: AppContext, upload: Upload) -> UploadOut:
    pairs = upload_metadata.parse(upload.upload_metadata)
    return UploadOut.model_validate(
        {
            "id": upload.id,
            "state": upload.state,
            "kind": upload.kind,
            "size": upload.length,
            "offset": upload.offset,
            "filename": upload.filename,
            "content_type": upload.content_type,
            "metadata": {key: value.decode("utf-8", "replace") for key, value in pairs.items()},
            "md5": upload.md5,
            "sha256": upload.sha256,
            "expected_md5": upload.expected_md5,
            "expected_sha256": upload.expected_sha256,
            "problem": upload.problem,
            "duplicate_of": service.duplicate_of(context, upload=upload),
            "parts": upload.part_ids if upload.kind == UploadKind.FINAL else None,
            "created_at": upload.created_at,
            "updated_at": upload.updated_at,
            "completed_at": upload.completed_at,
            "expires_at": upload.expires_at,
            "links": {"self": f"{tus.PREFIX}/{upload.id}"},
        }
    )
