"""GET /api/v1/challenge/: a proof-of-work challenge for the pages' widget and API clients."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import api_schema, challenge
from .api import Serializer


class ChallengeApi(APIView):
    """A fresh proof-of-work challenge (ALTCHA v2), for the pages' widget and, with API_CHALLENGE=1,
    for API clients: solve it and send the payload as `X-Altcha` with the next hold or booking."""

    authentication_classes: list = []
    permission_classes: list = []

    class OutputSerializer(Serializer):
        parameters = serializers.DictField(help_text="algorithm, cost, nonce, salt, keyPrefix, expiresAt…")
        signature = serializers.CharField()

    @extend_schema(
        operation_id="challenge_create",
        responses={200: OutputSerializer, **api_schema.errors({})},
        parameters=api_schema.parameters(),
        tags=["challenge"],
    )
    def get(self, request: Request) -> Response:
        response = Response(challenge.issue())
        response["Cache-Control"] = "no-store"
        return response
