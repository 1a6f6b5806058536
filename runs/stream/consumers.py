"""WS /ws/workspace-runs/{id}/events?afterSeq=N: the same event JSON as SSE, one per message."""

import asyncio
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from .. import selectors
from .feed import SlowViewer, follow

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_SLOW_VIEWER = 4408


class RunEventsConsumer(AsyncWebsocketConsumer):
    # Each viewer would otherwise get a channel-layer channel of its own; the run's Tail already
    # listens once per process (runs/stream/feed.py).
    channel_layer_alias = None

    async def refuse(self, code: int):
        # Accept, then close with a code: a handshake refusal would only say "HTTP 403".
        await self.accept()
        await self.close(code=code)

    async def connect(self):
        self.sender = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CLOSE_UNAUTHENTICATED)
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await sync_to_async(selectors.run_for)(user, run_id)
        if run is None:
            return await self.refuse(CLOSE_NOT_FOUND)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            after = int(query.get("afterSeq", ["0"])[0])
            if after < 0:
                raise ValueError
        except ValueError:
            return await self.refuse(CLOSE_BAD_REQUEST)
        await self.accept()
        self.sender = asyncio.create_task(self.send_events(run.id, after))

    async def send_events(self, run_id: str, after: int):
        try:
            async for lines in follow(run_id, after):
                for _seq, _kind, body in lines:
                    await self.send(text_data=body)
        except SlowViewer as cut:
            reason = f"slow_viewer: fell behind; resume with afterSeq={cut.after}"
            return await self.close(code=CLOSE_SLOW_VIEWER, reason=reason)
        await self.close(code=1000)

    async def disconnect(self, code):
        if self.sender:
            self.sender.cancel()
