"""Successful AWS answers that moto does not give: paged lists, malformed policy text, a raised
timeout. Like `moto_fixtures.faults` (which injects *errors*), a `before-send` handler hands
botocore a raw HTTP response, so botocore's real parsers and paginators read it.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import botocore.handlers
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

# (request) -> a response, an exception to raise as the network would, or None: moto answers.
Answer = Callable[[AWSPreparedRequest], AWSResponse | BaseException | None]


class _RawBody(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def json_response(request: AWSPreparedRequest, body: dict[str, Any]) -> AWSResponse:
    """A 200 of a JSON-protocol service (KMS, Organizations)."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "trust"}
    return AWSResponse(request.url, 200, headers, _RawBody(json.dumps(body).encode()))


def text_response(request: AWSPreparedRequest, text: str) -> AWSResponse:
    """A 200 whose body is the payload itself (S3 GetBucketPolicy)."""
    headers = {"Content-Type": "application/json", "x-amz-request-id": "trust"}
    return AWSResponse(request.url, 200, headers, _RawBody(text.encode()))


def iam_response(request: AWSPreparedRequest, operation: str, result_xml: str) -> AWSResponse:
    """A 200 of IAM's query protocol: `result_xml` is the inside of <OperationResult>."""
    body = (
        f'<{operation}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<{operation}Result>{result_xml}</{operation}Result>"
        f"<ResponseMetadata><RequestId>trust</RequestId></ResponseMetadata></{operation}Response>"
    )
    return AWSResponse(request.url, 200, {"Content-Type": "text/xml"}, _RawBody(body.encode()))


def xml_members(members: list[dict[str, str]]) -> str:
    items = "".join(
        "<member>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in m.items()) + "</member>"
        for m in members
    )
    return items


def json_params(request: AWSPreparedRequest) -> dict[str, Any]:
    return json.loads(request.body or b"{}")


def query_params(request: AWSPreparedRequest) -> dict[str, str]:
    body = request.body or b""
    text = body.decode() if isinstance(body, bytes) else body
    return {k: v[0] for k, v in urllib.parse.parse_qs(text).items()}


@dataclass
class AwsAnswers:
    """Answers by "service:Operation", and how many requests each one answered."""

    answers: dict[str, Answer] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)

    def on(self, operation: str, answer: Answer) -> None:
        self.answers[operation] = answer

    def __call__(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        _, service, operation = event_name.split(".", 2)  # before-send.kms.ListGrants
        name = f"{service}:{operation}"
        answer = self.answers.get(name)
        if answer is None:
            return None
        response = answer(request)
        if response is not None:
            self.answered[name] = self.answered.get(name, 0) + 1
        if isinstance(response, BaseException):
            raise response
        return response

    def install(self, monkeypatch: pytest.MonkeyPatch) -> AwsAnswers:
        """For every session created from now on, ahead of moto."""
        handlers = [
            ("before-send", self, botocore.handlers.REGISTER_FIRST),
            *botocore.handlers.BUILTIN_HANDLERS,
        ]
        monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)
        return self


@pytest.fixture
def aws_answers() -> Iterator[AwsAnswers]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield AwsAnswers().install(monkeypatch)
