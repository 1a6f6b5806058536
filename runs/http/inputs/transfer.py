"""Request bodies and queries of staged transfers: the mode a client asks for, the part list it
completes a presigned transfer with, and the page of part URLs it asks for."""

from rest_framework import serializers

from ...models import Transfer
from .fields import QueryInt, StrictInt, StrictText, documented, named, no_nul, text_schema

MAX_PARTS = 10_000  # S3's own limit on the parts of one upload


@named("TransferCreate")
class TransferCreateIn(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=Transfer.Mode.choices,
        required=False,
        help_text="`chunked` to send the chunks through this server even when object storage "
        "could take them directly (a client that cannot reach the bucket); `presigned` (the "
        "default wish) is granted only with object storage",
    )


@named("CompletedPart")
class CompletedPartIn(serializers.Serializer):
    partNumber = StrictInt(min_value=1, max_value=MAX_PARTS)
    etag = documented(
        StrictText,
        text_schema(200, minLength=1),
        max_length=200,
        trim_whitespace=False,
        help_text="the ETag header of the part's PUT answer, as received",
    )

    def validate_etag(self, value):
        return no_nul(value, 200)


@named("TransferComplete")
class TransferCompleteIn(serializers.Serializer):
    parts = serializers.ListField(
        child=CompletedPartIn(),
        required=False,
        max_length=MAX_PARTS,
        help_text="presigned transfers: every part, numbered 1 to partCount in order, each "
        "with its ETag (checked against the stored parts); ignored for chunked transfers",
    )


class PartsQueryIn(serializers.Serializer):
    """Validate `data=request.query_params.dict()`; the one field, `from`, is a keyword."""

    @classmethod
    def checked(cls, request) -> int:
        query = cls(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        return query.validated_data["from"]


PartsQueryIn._declared_fields["from"] = QueryInt(
    required=False, default=1, min_value=1, max_value=MAX_PARTS, help_text="first part number"
)
