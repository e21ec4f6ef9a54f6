"""Server-Sent Events: lines in, events out (comments and keepalives skipped)."""

from __future__ import annotations

import json
from typing import Iterable, Iterator, Optional

from .models import Event


class Parser:
    """Feeds lines; yields an :class:`Event` at each blank line that ends one."""

    def __init__(self) -> None:
        self.event: Optional[str] = None
        self.id: Optional[int] = None
        self.data: list = []

    def feed(self, line: str) -> Optional[Event]:
        if line.startswith(":"):
            return None
        if line == "":
            if self.event is None:
                return None
            ev = Event(self.id if self.id is not None else -1, self.event, json.loads("\n".join(self.data) or "{}"))
            self.event, self.id, self.data = None, None, []
            return ev
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "id":
            self.id = int(value)
        elif name == "data":
            self.data.append(value)
        return None


def events(lines: Iterable[str]) -> Iterator[Event]:
    p = Parser()
    for line in lines:
        ev = p.feed(line.rstrip("\r"))
        if ev is not None:
            yield ev
