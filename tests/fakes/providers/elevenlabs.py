"""A fake of ElevenLabs text to speech: audio bytes, 422 detail lists, 429 busy."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tests.fakes.providers.common import FakeServer, sample_media

KEY = "sk_fake_elevenlabs"
VOICES = {"21m00Tcm4TlvDq8ikWAM", "narrator01"}


class FakeElevenLabs(FakeServer):
    def __init__(self, work: Path):
        super().__init__()
        self.work = work
        self.calls = 0  # every request, refused or not
        self.app.router.add_post("/v1/text-to-speech/{voice}", self.speak)

    async def speak(self, request: web.Request) -> web.Response:
        self.calls += 1
        if request.headers.get("xi-api-key") != KEY:
            return web.json_response({"detail": {"status": "invalid_api_key",
                                                 "message": "Invalid API key"}}, status=401)
        scripted = self.scripted_error(self.script.submit_errors)
        if scripted:
            return scripted
        body = await request.json()
        self.requests.append({"voice": request.match_info["voice"], **body,
                              "output_format": request.query.get("output_format")})
        if not body.get("text"):
            return web.json_response({"detail": [{"loc": ["body", "text"],
                                                  "msg": "field required",
                                                  "type": "value_error.missing"}]}, status=422)
        if request.match_info["voice"] not in VOICES:
            return web.json_response({"detail": {"status": "voice_not_found",
                                                 "message": "A voice with that id was not "
                                                            "found."}}, status=404)
        self.submissions += 1
        return web.Response(body=sample_media("audio", self.work), content_type="audio/mpeg")
