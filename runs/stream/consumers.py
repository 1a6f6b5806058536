"""WS /ws/workspace-runs/{id}/events?afterSeq=N: the same event JSON as SSE, one per message."""

import asyncio
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from ops import metrics

from .. import selectors
from .cursor import cursor_of
from .feed import SlowViewer, follow, in_pool

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
CLOSE_SLOW_VIEWER = 4408
CLOSE_THROTTLED = 4429  # too many bad tokens from this address (runs/token_guard.py)


def after_seq(query_string: bytes) -> int | None:
    """`afterSeq` as the SSE stream reads it: absent is 0; the last one wins; an empty or
    malformed one is None (refused)."""
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    values = query.get("afterSeq")
    return cursor_of(values[-1]) if values else 0


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
        if self.scope.get("throttled"):
            return await self.refuse(CLOSE_THROTTLED)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CLOSE_UNAUTHENTICATED)
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        # On the shared pool: Channels runs every thread-sensitive call of every socket on one
        # thread and reconnects it per handshake (measured: 14 ms a handshake, in turn).
        run = await in_pool(selectors.run_for)(user, run_id)  # refuses non-ids (id_ok)
        if run is None:
            return await self.refuse(CLOSE_NOT_FOUND)
        after = after_seq(self.scope.get("query_string", b""))
        if after is None:
            return await self.refuse(CLOSE_BAD_REQUEST)
        await self.accept()
        self.sender = asyncio.create_task(self.send_events(run.id, after))

    async def send_events(self, run_id: str, after: int):
        try:
            async for lines in metrics.viewing("websocket", follow(run_id, after)):
                for _seq, _kind, body in lines:
                    await self.send(text_data=body)
        except SlowViewer as cut:
            reason = f"slow_viewer: fell behind; resume with afterSeq={cut.after}"
            return await self.close(code=CLOSE_SLOW_VIEWER, reason=reason)
        await self.close(code=1000)

    async def disconnect(self, code):
        if self.sender:
            self.sender.cancel()
