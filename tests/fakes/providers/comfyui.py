"""A fake ComfyUI server: /prompt, /queue, /history, /view, /upload/image and the websocket."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiohttp import WSMsgType, web

from tests.fakes.providers.common import FakeServer, sample_media


class FakeComfyUI(FakeServer):
    def __init__(self, work: Path, *, steps: int = 3, step_seconds: float = 0.01,
                 busy: int = 0):
        super().__init__()
        self.work = work
        self.steps = steps
        self.step_seconds = step_seconds
        self.busy = busy  # pretend other users' prompts are pending
        self.history: dict[str, dict] = {}
        self.running: list[str] = []
        self.pending: list[str] = []
        self.prompts: dict[str, dict] = {}
        self.uploads: list[str] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.fail_workflow = False
        self.forget = False  # a server restart: history and queue lost
        self.hold = asyncio.Event()
        self.hold.set()
        self.executor = asyncio.Lock()  # the real server runs one prompt at a time
        self.frames_sent = 0
        self.connections = 0  # websocket connections accepted
        self.drop_submits = 0
        self.malformed_submits = 0
        for prefix in ("", "/api"):
            self.app.router.add_post(f"{prefix}/prompt", self.prompt)
            self.app.router.add_get(f"{prefix}/queue", self.queue)
            self.app.router.add_post(f"{prefix}/queue", self.queue_delete)
            self.app.router.add_post(f"{prefix}/interrupt", self.interrupt)
            self.app.router.add_get(f"{prefix}/history/{{id}}", self.get_history)
            self.app.router.add_get(f"{prefix}/view", self.view)
            self.app.router.add_post(f"{prefix}/upload/image", self.upload)
            self.app.router.add_get(f"{prefix}/ws", self.ws)

    async def stop(self) -> None:
        # Open websockets would hold the server's shutdown for its full timeout.
        for socket in list(self.sockets):
            await socket.close()
        await super().stop()

    async def prompt(self, request: web.Request) -> web.Response:
        scripted = self.scripted_error(self.script.submit_errors)
        if scripted:
            return scripted
        if self.drop_submits > 0:  # the connection dies before an answer (a proxy restart)
            self.drop_submits -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if self.malformed_submits > 0:
            self.malformed_submits -= 1
            return web.Response(text="<html>502 upstream</html>", content_type="text/html")
        body = await request.json()
        graph = body.get("prompt")
        if not isinstance(graph, dict) or not all(
                isinstance(n, dict) and "class_type" in n for n in graph.values()):
            return web.json_response({"error": {"type": "invalid_prompt",
                                                "message": "Cannot execute because a node is "
                                                           "missing the class_type property.",
                                                "details": "", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        for node_id, node in graph.items():
            for name, value in node.get("inputs", {}).items():
                # A link [node id, output] must name a node of the graph, as ComfyUI checks.
                dangling = isinstance(value, list) and len(value) == 2 and str(value[0]) \
                    not in graph
                if dangling or (isinstance(value, str) and value.startswith("{{")):
                    return web.json_response({"error": {"type": "prompt_outputs_failed_"
                                                        "validation", "message": "Prompt "
                                                        "outputs failed validation"},
                                              "node_errors": {node_id: {"errors": [
                                                  {"message": f"bad value for {name}"}]}}},
                                             status=400)
        self.submissions += 1
        self.requests.append(body)
        pid = str(uuid.uuid4())
        self.prompts[pid] = graph
        self.pending.append(pid)
        asyncio.get_running_loop().create_task(self._execute(pid, body.get("client_id", "")))
        return web.json_response({"prompt_id": pid, "number": self.submissions,
                                  "node_errors": {}})

    async def drop_sockets(self) -> None:
        """The websocket goes away (a proxy restart); prompts keep running."""
        for socket in list(self.sockets):
            await socket.close()

    async def _broadcast(self, frame: dict) -> None:
        for socket in list(self.sockets):
            if not socket.closed:
                await socket.send_json(frame)
                self.frames_sent += 1

    async def _execute(self, pid: str, client_id: str) -> None:
        async with self.executor:
            await self._run_prompt(pid)

    async def _run_prompt(self, pid: str) -> None:
        await self.hold.wait()
        if pid not in self.pending:  # deleted from the queue before it ran
            return
        self.pending.remove(pid)
        self.running.append(pid)
        await self._broadcast({"type": "execution_start", "data": {"prompt_id": pid}})
        for step in range(1, self.steps + 1):
            await asyncio.sleep(self.step_seconds)
            await self._broadcast({"type": "progress", "data": {
                "value": step, "max": self.steps, "prompt_id": pid, "node": "3"}})
        self.running.remove(pid)
        graph = self.prompts[pid]
        video = any(n.get("class_type") == "VHS_VideoCombine" for n in graph.values())
        if self.fail_workflow:
            self.history[pid] = {"outputs": {}, "status": {
                "status_str": "error", "completed": False,
                "messages": [["execution_error", {"prompt_id": pid, "node_id": "3",
                                                  "exception_message": "CUDA out of memory"}]]}}
            await self._broadcast({"type": "execution_error", "data": {"prompt_id": pid}})
            return
        key = "gifs" if video else "images"
        name = f"slate_{pid[:8]}.{'mp4' if video else 'png'}"
        self.history[pid] = {"prompt": [0, pid, graph, {}, []], "outputs": {
            "9": {key: [{"filename": name, "subfolder": "", "type": "output"}]}},
            "status": {"status_str": "success", "completed": True, "messages": []}}
        await self._broadcast({"type": "executing", "data": {"node": None, "prompt_id": pid}})

    async def queue(self, request: web.Request) -> web.Response:
        others = [[i, f"other-{i}", {}, {}, []] for i in range(self.busy)]
        return web.json_response({
            "queue_running": [[0, pid, {}, {}, []] for pid in self.running],
            "queue_pending": others + [[1, pid, {}, {}, []] for pid in self.pending]})

    async def queue_delete(self, request: web.Request) -> web.Response:
        body = await request.json()
        for pid in body.get("delete", []):
            if pid in self.pending:
                self.pending.remove(pid)
        return web.Response(status=200)

    async def interrupt(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def get_history(self, request: web.Request) -> web.Response:
        scripted = self.scripted_error(self.script.poll_errors)
        if scripted:
            return scripted
        if self.script.malformed_polls > 0:
            self.script.malformed_polls -= 1
            return web.Response(text='{"truncated', content_type="application/json")
        if self.forget:
            return web.json_response({})
        pid = request.match_info["id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def view(self, request: web.Request) -> web.Response:
        name = request.query.get("filename", "")
        if not name or request.query.get("type") not in ("output", "input", "temp"):
            return web.Response(status=400)
        if not any(name in str(h) for h in self.history.values()):
            return web.Response(status=404)
        kind = "video" if name.endswith(".mp4") else "image"
        return web.Response(body=sample_media(kind, self.work),
                            content_type="video/mp4" if kind == "video" else "image/png")

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        if image is None or not hasattr(image, "filename"):
            return web.Response(status=400)
        self.uploads.append(image.filename)
        return web.json_response({"name": image.filename, "subfolder": "", "type": "input"})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections += 1
        self.sockets.append(socket)
        await socket.send_json({"type": "status", "data": {"status": {"exec_info": {
            "queue_remaining": len(self.pending)}}, "sid": request.query.get("clientId")}})
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                break
        self.sockets.remove(socket)
        return socket
