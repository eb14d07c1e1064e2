"""A fake OpenAI-style judge on the shared client's transport (httpx.MockTransport).

It reads the marker `item-<n>` from the prompt and answers the verdict planted for it
(`verdicts`, default pass). Generate requests (schema `answer`) get `generated for item-<n>`;
summary requests get a valid summary. `failures` holds, per marker, HTTP statuses answered first;
`bad_answers` a count of unusable answers given first.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

MARKER = re.compile(r"item-\d+")
SUMMARY = {
    "overall_assessment": "Judged by the fake.",
    "pass_patterns": [],
    "fail_patterns": [],
    "na_patterns": [],
    "recommendations": ["One.", "Two."],
}


class FakeJudge:
    def __init__(self) -> None:
        self.verdicts: dict[str, str] = {}
        self.failures: dict[str, list[int]] = {}  # marker → statuses answered first
        self.bad_answers = 0
        self.calls: list[dict[str, Any]] = []

    def judged(self) -> list[str]:
        """Markers of the judge calls made, in order (for counting repeats)."""
        return [
            self._marker(body)
            for body in self.calls
            if body["response_format"]["json_schema"]["name"] == "verdict"
        ]

    @staticmethod
    def _marker(body: dict[str, Any]) -> str:
        found = MARKER.search(body["messages"][1]["content"])
        return found.group(0) if found else ""

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        schema = body["response_format"]["json_schema"]["name"]
        marker = self._marker(body)
        if self.failures.get(marker):
            status = self.failures[marker].pop(0)
            return httpx.Response(
                status, headers={"retry-after": "0"}, json={"error": {"message": "busy"}}
            )
        if self.bad_answers:
            self.bad_answers -= 1
            content: Any = {"verdict": "maybe"}
        elif schema == "answer":
            content = {"output": f"generated for {marker}"}
        elif schema == "verdict":
            content = {"verdict": self.verdicts.get(marker, "pass"), "reasoning": f"{marker} ok"}
        else:
            content = SUMMARY
        return httpx.Response(
            200,
            json={
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": json.dumps(content)}}
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7},
            },
        )
