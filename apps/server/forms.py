"""A served task's multipart form at the boundary: read and checked by the task's
:class:`~multimodal_rnn.tasks.protocol.FormField` list, and published in the OpenAPI schema.

Every task's form has the uploaded ``image`` (a video task's: ``video``) and the task's own
fields. Checking has two steps, so that a request to a task without a model gets 503 once its form
is well-formed:
:func:`read_form` (the schema: present, an integer, within bounds; every problem in one 422) and
:func:`check_fields` (the content: text with words and within length, parsed fields; 422).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from multimodal_rnn.tasks.protocol import FieldError, FormField

from .limits import ApiError

UPLOAD_DESCRIPTIONS = {
    "image": "the image (JPEG, PNG, ...)",
    "video": "the video (MP4, WebM, AVI, MKV, MOV, GIF)",
}
"""The OpenAPI description of each kind of upload; the kind is also the form field's name."""


_TOO_LARGE = ("Part exceeded maximum size", "Field exceeded maximum size", "Too many fields", "Too many files")
"""Starts of the form parser's messages about a form over its limits (413); its others are malformed forms (400)."""


async def parse_form(request: Request, *, max_field_bytes: int) -> FormData:
    """The request's form (close it after use); a text field over ``max_field_bytes`` bytes or
    over 1,000 fields is 413, a malformed multipart body 400.

    Raises:
        ApiError: 413 or 400 as above.
    """
    try:
        return await request.form(max_part_size=max_field_bytes)
    except HTTPException as exc:
        detail = str(exc.detail)
        if detail.startswith(_TOO_LARGE[:2]):
            raise ApiError(413, f"a form field is over the limit of {max_field_bytes} bytes") from None
        if detail.startswith(_TOO_LARGE[2:]):
            raise ApiError(413, f"too many form fields or files ({detail.rstrip('.')})") from None
        raise ApiError(400, f"malformed form ({detail})") from None


def read_form(
    form: FormData, fields: Sequence[FormField], *, upload: str = "image"
) -> tuple[UploadFile, dict[str, Any]]:
    """The uploaded file (the form field named ``upload``: ``image`` or ``video``) and each field's
    value (its default when absent).

    Raises:
        ApiError: 422 naming every missing upload or field, non-integer or out-of-bounds value.
    """
    errors = []
    image = form.get(upload)
    if image is None or image == "":
        errors.append(f"{upload}: Field required")
    elif not isinstance(image, UploadFile):
        errors.append(f"{upload}: Value error, Expected UploadFile, received: {type(image)}")
    values: dict[str, Any] = {}
    for field in fields:
        raw = form.get(field.name)
        if isinstance(raw, UploadFile):
            errors.append(f"{field.name}: Input should be a valid string")
            continue
        try:
            values[field.name] = field.convert(raw)
        except FieldError as exc:
            errors.append(str(exc))
    if errors:
        raise ApiError(422, "; ".join(errors))
    assert isinstance(image, UploadFile)
    return image, values


def check_fields(fields: Sequence[FormField], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values after each field's content checks (text stripped, parsed fields parsed), in order.

    Raises:
        ApiError: 422 with the first refused field's message.
    """
    try:
        return {field.name: field.check(values[field.name]) for field in fields}
    except FieldError as exc:
        raise ApiError(422, str(exc)) from None


def openapi_request_body(fields: Sequence[FormField], *, upload: str = "image") -> dict[str, Any]:
    """The route's ``openapi_extra``: its multipart request body, the upload (``image`` or ``video``)
    and every field."""
    description = UPLOAD_DESCRIPTIONS[upload]
    properties: dict[str, Any] = {upload: {"type": "string", "format": "binary", "description": description}}
    properties.update({field.name: field.json_schema() for field in fields})
    required = [upload] + [field.name for field in fields if field.default is None]
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
