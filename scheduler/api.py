"""Pieces shared by the API views of both apps."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)
