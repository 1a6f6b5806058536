from rest_framework import serializers

from .models import Review


class ReviewIn(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Review.Verdict.values)
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, trim_whitespace=False, default=""
    )

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["a JSON object"]})
        if "comment" in data and not isinstance(data["comment"], str):
            raise serializers.ValidationError({"comment": ["a string"]})
        return super().to_internal_value(data)
