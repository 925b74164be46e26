"""What the server sent, decoded as an attacker would: every Arrow table, chart spec and string in the websocket's
ForwardMsg protobufs, and the same from a governance pack's HTML."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.ipc
from google.protobuf.message import DecodeError, Message
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


@dataclass
class Sent:
    tables: list[pa.Table] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)  # Plotly specs: {"data": [...], "layout": {...}}
    texts: list[str] = field(default_factory=list)


def _arrow(data: bytes) -> pa.Table | None:
    try:
        return pa.ipc.open_stream(data).read_all()
    except (pa.ArrowInvalid, OSError):
        return None


def _repeated(descriptor) -> bool:
    if hasattr(descriptor, "is_repeated"):  # protobuf 6 and later
        return descriptor.is_repeated
    return descriptor.label == descriptor.LABEL_REPEATED


def _walk(message: Message, sent: Sent) -> None:
    for descriptor, value in message.ListFields():
        values = value if _repeated(descriptor) else [value]
        for item in values:
            if isinstance(item, Message):
                _walk(item, sent)
            elif isinstance(item, bytes):
                table = _arrow(item)
                if table is not None:
                    sent.tables.append(table)
            elif isinstance(item, str):
                sent.texts.append(item)
                if item.startswith("{") and '"data"' in item:
                    try:
                        spec = json.loads(item)
                    except ValueError:
                        continue
                    if isinstance(spec, dict) and isinstance(spec.get("data"), list):
                        sent.figures.append(spec)


def decode(frames: list[bytes]) -> Sent:
    """Every ForwardMsg the browser was given, taken apart."""
    sent = Sent()
    for frame in frames:
        message = ForwardMsg()
        try:
            message.ParseFromString(frame)
        except DecodeError:
            continue
        _walk(message, sent)
    return sent


# The pack labels its columns for a reader; the attack knows them by the fields they hold (written out here).
READER_LABELS = {
    "Events": "numerator",
    "Patients": "denominator",
    "Infusions": "infusions",
    "95% CI low": "ci_low",
    "95% CI high": "ci_high",
    "Observed / expected": "ratio",
    "Expected": "expected",
}


def decode_pack(html: str) -> Sent:
    """A governance pack: its Plotly figures (as embedded for offline use), its table cells and its text."""
    sent = Sent()
    for match in re.finditer(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{", html, re.S):
        sent.figures.append({"data": json.loads(match.group(1)), "layout": json.loads(match.group(2))})
    for table in re.findall(r"<table>.*?</table>", html, re.S):
        head = [READER_LABELS.get(name, name) for name in re.findall(r"<th>(.*?)</th>", table)]
        rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
        columns = {name: [row[i] for row in rows] for i, name in enumerate(head)}
        sent.tables.append(pa.table({name: pa.array(cells, pa.string()) for name, cells in columns.items()}))
    sent.texts.append(re.sub(r"<script.*?</script>", " ", html, flags=re.S))
    return sent
