"""Request logs as queue-proxy writes them: config-observability's Go template, one line per request.

The template language is the part of Go's text/template Knative's templates use: `{{.Request.Method}}`,
`{{js .Request.UserAgent}}` and `{{index .Request.Header "X-B3-Traceid"}}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
               "=": "\\u003D", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def js_escape(text: str) -> str:
    """Go's template.JSEscapeString."""
    out = []
    for ch in text:
        if ch in _JS_ESCAPES:
            out.append(_JS_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class RequestRecord:
    method: str
    uri: str
    proto: str
    host: str
    remote_addr: str
    user_agent: str
    referer: str
    content_length: int
    headers: Mapping[str, str]
    code: int
    size: int
    latency: float
    revision: str
    namespace: str
    service: str
    configuration: str
    pod_name: str
    pod_ip: str

    def fields(self) -> dict[str, object]:
        return {
            ".Request.Method": self.method, ".Request.RequestURI": self.uri, ".Request.Proto": self.proto,
            ".Request.Host": self.host, ".Request.RemoteAddr": self.remote_addr,
            ".Request.UserAgent": self.user_agent, ".Request.Referer": self.referer,
            ".Request.ContentLength": self.content_length, ".Response.Code": self.code,
            ".Response.Size": self.size, ".Response.Latency": f"{self.latency:.9f}".rstrip("0").rstrip("."),
            ".Revision.Name": self.revision, ".Revision.Namespace": self.namespace,
            ".Revision.Service": self.service, ".Revision.Configuration": self.configuration,
            ".Revision.PodName": self.pod_name, ".Revision.PodIP": self.pod_ip,
        }


def compile_template(template: str) -> Callable[[RequestRecord], str]:
    """The template as a function of a request; unknown actions render as empty strings."""
    parts: list[str | tuple[str, ...]] = []
    position = 0
    for match in _ACTION.finditer(template):
        parts.append(template[position:match.start()])
        words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', match.group(1))
        parts.append(tuple(words))
        position = match.end()
    parts.append(template[position:])

    def render(record: RequestRecord) -> str:
        fields = record.fields()
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif len(part) == 1:
                out.append(str(fields.get(part[0], "")))
            elif part[0] == "js" and len(part) == 2:
                out.append(js_escape(str(fields.get(part[1], ""))))
            elif part[0] == "index" and len(part) == 3 and part[1] == ".Request.Header":
                name = part[2].strip('"')
                value = next((v for k, v in record.headers.items() if k.lower() == name.lower()), None)
                out.append(f"[{value}]" if value is not None else "[]")
        return "".join(out)

    return render
