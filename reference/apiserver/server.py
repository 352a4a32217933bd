"""The HTTP face of the API server: Kubernetes REST paths over aiohttp.

Paths: /api/v1/..., /apis/<group>/<version>/..., optionally /namespaces/<ns>/, then
<plural>[/<name>[/<subresource>]]. Errors are `Status` objects; lists and watches follow the API
conventions kubectl and client-go rely on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from reference.apiserver import discovery, errors, protobuf, tables
from reference.apiserver.admission.numbers import parse_int
from reference.apiserver.conversion import view_text
from reference.apiserver.decode import MAX_BODY_BYTES, DecodeError, decode_json, decode_yaml
from reference.apiserver.errors import ApiError
from reference.apiserver.kinds import Kind
from reference.apiserver.openapi import OpenAPI
from reference.apiserver.registry import FIELD_VALIDATION, Options, Registry, check_delete_options
from reference.apiserver.selectors import SelectorError, both, field_selector, label_selector
from reference.apiserver.store import ResourceVersionTooOld

VERSION_INFO = {
    "major": "1", "minor": "32", "gitVersion": "v1.32.0-kproof", "gitCommit": "", "gitTreeState": "clean",
    "buildDate": "", "goVersion": "", "compiler": "", "platform": "linux/amd64",
}
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/apply-patch+yaml")

DEFAULT_WATCH_SECONDS = 1800
MAX_WATCH_SECONDS = 3600  # Kubernetes' own choice never exceeds twice its 30-minute request timeout
INT64_MAX = 2**63 - 1
DRY_RUN_VALUES = ("All",)
INCLUDE_OBJECT = ("None", "Metadata", "Object")
MAX_FIELD_MANAGER = 128
# pods/log: the integer options and the least each may be.
LOG_INTEGERS = {"tailLines": 0, "limitBytes": 1, "sinceSeconds": 1}

# Handlers for extra subresources (e.g. pods/log), registered by the components that own them.
SubresourceHandler = Callable[[web.Request, Kind, str, str], Awaitable[web.StreamResponse]]
HealthCheck = Callable[[], "str | None"]
# What a platform component serves behind `/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH`.
ServiceProxy = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


@dataclass
class Target:
    """What a request path names."""

    kind: Kind
    namespace: str | None  # None: across namespaces (or cluster-scoped)
    name: str = ""
    subresource: str = ""


def _warning_header(warning: str) -> str:
    """A `299` Warning header: quotes and backslashes escaped, control characters (which a header cannot
    carry, and a field name sent by a client may hold) written as escapes."""
    text = warning.replace("\\", "\\\\").replace('"', '\\"')
    return '299 - "' + "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text) + '"'


def _json_response(body: object, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    response = web.Response(text=text, status=status, content_type=JSON)
    for warning in warnings or []:
        response.headers.add("Warning", _warning_header(warning))
    return response


def _error_response(err: ApiError) -> web.Response:
    return _json_response(err.status(), err.code)


def _query_int(request: web.Request, name: str, least: int | None = None) -> int | None:
    """An integer query parameter as Kubernetes decodes it (an int64), None when absent or empty."""
    text = request.query.get(name, "")
    if text == "":
        return None
    try:
        value = parse_int(text)
    except ValueError as err:
        raise errors.bad_request(f'{name}: Invalid value: "{text}": must be an integer') from err
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise errors.bad_request(f'{name}: Invalid value: "{text}": out of range')
    if least is not None and value < least:
        raise errors.bad_request(f"{name}: Invalid value: {value}: must be greater than or equal to {least}")
    return value


def _dry_run(values: list[str]) -> bool:
    for value in values:
        if value not in DRY_RUN_VALUES:
            raise errors.bad_request(f'Invalid dryRun value "{value}": supported values: "All"')
    return bool(values)


def _field_manager(name: str) -> str:
    if len(name) > MAX_FIELD_MANAGER:
        raise errors.bad_request(f"fieldManager: Too long: must have at most {MAX_FIELD_MANAGER} bytes")
    if not name.isprintable():
        raise errors.bad_request(f"fieldManager: Invalid value: {json.dumps(name)}: must be printable")
    return name


def _include_object(request: web.Request) -> str:
    include = request.query.get("includeObject") or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise errors.bad_request(f'unrecognized includeObject value: "{include}"')
    return include


def _too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}")


def _verb(request: web.Request, target: Target) -> str:
    """The request's verb as RBAC names it."""
    method = request.method
    if method in ("GET", "HEAD"):
        if target.name:
            return "get"
        return "watch" if request.query.get("watch") in ("true", "1") else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


class ApiServer:
    def __init__(self, registry: Registry, token: str, address: str = "127.0.0.1:0") -> None:
        self.registry = registry
        self.kinds = registry.kinds
        self.token = token
        self.address = address
        self.openapi = OpenAPI(self.kinds)
        self.subresources: dict[tuple[str, str], SubresourceHandler] = {}
        self.service_proxies: dict[tuple[str, str], ServiceProxy] = {}
        # Paths outside /api and /apis that platform components serve (the OIDC discovery document, its JWKS),
        # open to anyone, as clusters bind them to system:unauthenticated for service-account issuer discovery.
        self.public_handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
        # name -> check returning None when healthy, else what is wrong
        self.health_checks: dict[str, HealthCheck] = {"apiserver": lambda: None}
        # Who else may call: a bearer token -> its user (a ServiceAccount's, e.g. a pod's own), None when
        # it is not one; and whether RBAC lets that user (user, verb, group, resource, namespace, name).
        # The platform's own token is the cluster's admin and passes without either.
        self.authenticate: Callable[[str], str | None] | None = None
        self.authorize: Callable[[str, str, str, str, str, str], bool] | None = None
        # (group, version, plural) -> the answer to a review created there (SubjectAccessReview: nothing stored)
        self.reviews: dict[tuple[str, str, str], Callable[[dict], dict]] = {}

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        self.health_checks[name] = check

    def _health(self, request: web.Request) -> web.Response:
        """`ok`, or with ?verbose one `[+]name ok` / `[-]name reason` line per component."""
        results = {name: check() for name, check in self.health_checks.items()}
        healthy = all(problem is None for problem in results.values())
        if "verbose" not in request.query:
            return web.Response(text="ok" if healthy else "unhealthy", status=200 if healthy else 500)
        lines = [f"[+]{name} ok" if problem is None else f"[-]{name} {problem}"
                 for name, problem in results.items()]
        lines.append("readyz check passed" if healthy else "readyz check failed")
        return web.Response(text="\n".join(lines), status=200 if healthy else 500)

    def add_service_proxy(self, namespace: str, service: str, handler: ServiceProxy) -> None:
        """Serves the API server's proxy to a platform component's Service (`service` as `name:port`), the
        way clients reach Knative's own components on a cluster (e.g. the autoscaler's metrics)."""
        self.service_proxies[(namespace, service)] = handler

    async def _service_proxy(self, request: web.Request, namespace: str, service: str,
                             path: list[str]) -> web.StreamResponse:
        handler = self.service_proxies.get((namespace, service))
        if handler is None:
            raise errors.not_found("services", "", service.partition(":")[0])
        return await handler(request, "/" + "/".join(path))

    def add_public_path(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.public_handlers[path] = handler

    def add_subresource(self, kind: Kind, name: str, handler: SubresourceHandler) -> None:
        self.subresources[(kind.resource, name)] = handler

    def app(self) -> web.Application:
        # aiohttp refuses a body of client_max_size bytes or more; Kubernetes one over its limit.
        app = web.Application(middlewares=[self._errors, self._auth], client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    # Middleware ----------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except ApiError as err:
            return _error_response(err)
        except SelectorError as err:
            return _error_response(errors.bad_request(str(err)))
        except web.HTTPRequestEntityTooLarge:
            return _error_response(_too_large())

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path in PUBLIC_PATHS or request.path in self.public_handlers:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            raise errors.unauthorized()
        if hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return await handler(request)
        user = self.authenticate(given.strip()) if self.authenticate else None
        if user is None:
            raise errors.unauthorized()
        request["user"] = user
        if not request.path.startswith(("/api/", "/apis/")) and request.method != "GET":
            raise errors.forbidden_path(user, request.method.lower(), request.path)
        return await handler(request)

    def _check_access(self, request: web.Request, target: Target) -> None:
        """RBAC for a caller other than the platform (its token passes): 403 unless a role allows it."""
        user = request.get("user")
        if user is None:
            return
        verb = _verb(request, target)
        resource = target.kind.plural + (f"/{target.subresource}" if target.subresource else "")
        namespace = target.namespace or ""
        if self.authorize is None or not self.authorize(user, verb, target.kind.group, resource, namespace,
                                                        target.name):
            raise errors.forbidden_request(user, verb, target.kind.group, resource, namespace, target.name)

    # Routing -------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return self._health(request)
        if path == "/version":
            return _json_response(VERSION_INFO)
        if path in self.public_handlers:
            return await self.public_handlers[path](request)
        if path.startswith("/openapi/"):
            return self._openapi(path)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["api"]:
            return _json_response(discovery.api_versions(self.address))
        if parts == ["apis"]:
            return _json_response(discovery.api_group_list(self.kinds))
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            group = parts[1]
            if len(parts) == 2:
                members = self.kinds.groups().get(group)
                if not members:
                    raise errors.not_found("", "", path)
                return _json_response(discovery.api_group(group, members))
            version, rest = parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return self._resource_list(group, version)
        if group == "" and len(rest) >= 5 and rest[0] == "namespaces" and rest[2] == "services" and rest[4] == "proxy":
            services = self.kinds.require("", "v1", "services")
            self._check_access(request, Target(services, rest[1], rest[3].partition(":")[0], "proxy"))
            return await self._service_proxy(request, rest[1], rest[3], rest[5:])
        review = self.reviews.get((group, version, "/".join(rest)))
        if review is not None:
            return await self._review(request, group, rest[-1], review)
        target = self._target(group, version, rest)
        self._check_access(request, target)
        return await self._serve(request, target)

    async def _review(self, request: web.Request, group: str, plural: str,
                      review: Callable[[dict], dict]) -> web.Response:
        """A review: created, answered, not stored (create is the only verb)."""
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", f'the server does not allow this method on the requested '
                                                    f'resource ({plural}.{group})')
        user = request.get("user")
        if user is not None and (self.authorize is None or not self.authorize(user, "create", group, plural, "", "")):
            raise errors.forbidden_request(user, "create", group, plural, "")
        body = await self._body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be an object")
        return _json_response(review(body), status=201)

    def _openapi(self, path: str) -> web.Response:
        if path == "/openapi/v2":
            # An empty protobuf document: kubectl falls back to it in a few cases (`kind: List` files)
            # and then relies on the server's own field validation, which this server does.
            return web.Response(body=b"", content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        if path == "/openapi/v3":
            return _json_response(self.openapi.root())
        key = path.removeprefix("/openapi/v3/")
        document = self.openapi.documents.get(key)
        if document is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return web.Response(body=document, content_type=JSON)

    def _resource_list(self, group: str, version: str) -> web.Response:
        members = [k for k in self.kinds.all if k.group == group and k.version == version]
        if not members:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        extra: dict[str, list[str]] = {}
        for resource, sub in self.subresources:
            extra.setdefault(resource, []).append(sub)
        return _json_response(discovery.resource_list(members[0].api_version, members, extra))

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in (
                "status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        kind = self.kinds.by_path(group, version, rest[0])
        if kind is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not kind.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if kind.namespaced and name and namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(kind, namespace if kind.namespaced else None, name, sub)

    # Verbs ---------------------------------------------------------------------------------------

    def _options(self, request: web.Request, delete_options: dict | None = None) -> Options:
        """The write options in the query (and a delete's dryRun, which may come in its body)."""
        query = request.query
        validation = query.get("fieldValidation", "Warn") or "Warn"
        if validation not in FIELD_VALIDATION:
            raise errors.bad_request(f"fieldValidation must be one of {', '.join(FIELD_VALIDATION)}")
        return Options(
            user=request.get("user") or Options.user,
            field_validation=validation,
            dry_run=_dry_run(query.getall("dryRun", []) + list((delete_options or {}).get("dryRun") or [])),
            field_manager=_field_manager(query.get("fieldManager", "")),
            force=query.get("force", "") in ("true", "1"),
        )

    async def _body(self, request: web.Request) -> object:
        raw = await request.read()
        if not raw:
            raise errors.bad_request("the request body is empty")
        content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
        try:
            if content_type == protobuf.CONTENT_TYPE:  # what client-go's typed clients send for built-in kinds
                return protobuf.decode(raw)
            return decode_yaml(raw) if content_type in YAML_TYPES else decode_json(raw)
        except (DecodeError, protobuf.ProtobufError) as err:
            raise errors.bad_request(f"the body of the request could not be decoded: {err}") from err

    async def _serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        kind, method = target.kind, request.method
        if target.subresource and target.subresource != "status":
            handler = self.subresources.get((kind.resource, target.subresource))
            if handler is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            if target.subresource == "log":
                for name, least in LOG_INTEGERS.items():
                    _query_int(request, name, least)
            return await handler(request, kind, target.namespace or "", target.name)
        if not target.name:
            if method == "GET":
                if request.query.get("watch") in ("true", "1"):
                    return await self._watch(request, target)
                return self._list(request, target)
            if method == "POST":
                if target.namespace is None and kind.namespaced:
                    raise errors.method_not_allowed("create needs a namespace")
                opts = self._options(request)
                obj = self.registry.create(kind, target.namespace or "", await self._body(request), opts)
                return _json_response(obj, 201, opts.warnings)
            if method == "DELETE":
                predicate = self._predicate(request, kind)
                options = await self._delete_options(request)
                deleted = self.registry.delete_collection(kind, target.namespace, predicate, options,
                                                          self._options(request, options))
                return _json_response({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                                       "metadata": {}, "items": deleted})
            raise errors.method_not_allowed(f"{method} is not supported on a collection")
        namespace = target.namespace or ""
        if method == "GET":
            if self._wants_table(request):
                include = _include_object(request)
                obj = self.registry.get(kind, namespace, target.name)
                return _json_response(tables.table(kind, [obj], obj["metadata"]["resourceVersion"], include))
            return _json_response(self.registry.get_text(kind, namespace, target.name))
        if method == "DELETE":
            if target.subresource:
                raise errors.method_not_allowed("DELETE is not supported on a subresource")
            options = await self._delete_options(request)
            obj = self.registry.delete(kind, namespace, target.name, options, self._options(request, options))
            pending = bool(obj["metadata"].get("deletionTimestamp")) and self.registry.store.entry(
                kind.resource, namespace, target.name) is not None
            return _json_response(obj, 202 if pending else 200)
        opts = self._options(request)
        if method == "PUT":
            obj = self.registry.update(kind, namespace, target.name, await self._body(request), opts,
                                       subresource=target.subresource)
            return _json_response(obj, 200, opts.warnings)
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            raw = await request.read()
            existed = self.registry.store.entry(kind.resource, namespace, target.name) is not None
            obj = self.registry.patch(kind, namespace, target.name, content_type, raw, opts,
                                      subresource=target.subresource)
            return _json_response(obj, 200 if existed else 201, opts.warnings)
        raise errors.method_not_allowed(f"{method} is not supported")

    async def _delete_options(self, request: web.Request) -> dict:
        """DeleteOptions from the body, overridden by query parameters, checked before anything is deleted."""
        options: object = {}
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
                try:
                    options = protobuf.decode(raw) if content_type == protobuf.CONTENT_TYPE else decode_json(raw)
                except (DecodeError, protobuf.ProtobufError) as err:
                    raise errors.bad_request(f"invalid DeleteOptions: {err}") from err
        if not isinstance(options, dict):
            raise errors.bad_request("invalid DeleteOptions: must be an object")
        grace = _query_int(request, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if request.query.get("propagationPolicy"):
            options["propagationPolicy"] = request.query["propagationPolicy"]
        check_delete_options(options)
        return options

    def _predicate(self, request: web.Request, kind: Kind):
        return both(label_selector(request.query.get("labelSelector")),
                    field_selector(request.query.get("fieldSelector"), kind.plural if kind.builtin else ""))

    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        return "as=Table" in request.headers.get("Accept", "")

    @staticmethod
    def _check_list_options(request: web.Request) -> None:
        """ListOptions this server does not act on are still checked, as Kubernetes decodes them."""
        _query_int(request, "timeoutSeconds", 0)
        _query_int(request, "limit", 0)
        if request.query.get("resourceVersion", "") not in ("", "0"):
            _query_int(request, "resourceVersion")

    def _list(self, request: web.Request, target: Target) -> web.Response:
        kind = target.kind
        self._check_list_options(request)
        include = _include_object(request) if self._wants_table(request) else "Metadata"
        texts, rv = self.registry.list(kind, target.namespace, self._predicate(request, kind))
        if self._wants_table(request):
            return _json_response(tables.table_from_texts(kind, texts, str(rv), include))
        body = (f'{{"kind":"{kind.kind}List","apiVersion":"{kind.api_version}",'
                f'"metadata":{{"resourceVersion":"{rv}"}},"items":[{",".join(texts)}]}}')
        return _json_response(body)

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        kind = target.kind
        self._check_list_options(request)
        predicate = self._predicate(request, kind)
        as_table = self._wants_table(request)
        include = _include_object(request) if as_table else "Metadata"
        since_text = request.query.get("resourceVersion", "")
        # 0 (or none) lets the server choose, as Kubernetes does; a longer wait is cut to the bound.
        timeout = min(_query_int(request, "timeoutSeconds", 0) or DEFAULT_WATCH_SECONDS, MAX_WATCH_SECONDS)
        store = self.registry.store
        initial: list[str] = []
        # a watch list (client-go's default since 1.35): the current objects as ADDED events, then a BOOKMARK
        # marking their end, then the changes; without that bookmark client-go's informers wait for ever
        send_initial = request.query.get("sendInitialEvents") in ("true", "1")
        if send_initial and request.query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.bad_request("sendInitialEvents requires resourceVersionMatch=NotOlderThan")
        end_bookmark = send_initial and request.query.get("allowWatchBookmarks") in ("true", "1")
        listed_at = 0
        try:
            if since_text in ("", "0") or send_initial:
                if since_text not in ("", "0"):
                    parse_int(since_text)
                texts, listed_at = self.registry.list(kind, target.namespace, predicate)
                initial = texts
                watcher = store.watch(kind.resource, target.namespace, None)
            else:
                watcher = store.watch(kind.resource, target.namespace, parse_int(since_text))
        except ValueError as err:
            raise errors.bad_request(f"invalid resourceVersion {since_text!r}") from err
        except ResourceVersionTooOld:
            watcher = None
        response = web.StreamResponse(headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        await response.prepare(request)

        def encode(kind_name: str, text: str, stored: bool = True) -> bytes:
            if stored:
                text = view_text(kind.conversion, text)  # as the watched version shows it
            if as_table:
                row = tables.table(kind, [json.loads(text)], include=include)
                text = json.dumps(row, separators=(",", ":"))
            return f'{{"type":"{kind_name}","object":{text}}}\n'.encode()

        if watcher is None:
            gone = errors.gone(f"too old resource version: {since_text} ({store.resource_version})")
            await response.write(f'{{"type":"ERROR","object":{json.dumps(gone.status())}}}\n'.encode())
            return response
        try:
            for text in initial:
                await response.write(encode("ADDED", text, stored=False))
            if end_bookmark:
                bookmark = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": {
                    "resourceVersion": str(listed_at), "annotations": {"k8s.io/initial-events-end": "true"}}}
                await response.write(f'{{"type":"BOOKMARK","object":{json.dumps(bookmark)}}}\n'.encode())
            async with asyncio.timeout(timeout):
                async for event in store.events(watcher):
                    now_matches = predicate is None or predicate(event.obj)
                    was_matching = event.old is not None and (predicate is None or predicate(event.old))
                    if event.type == "DELETED":
                        kind_name = "DELETED" if now_matches else ""
                    elif event.type == "ADDED":
                        kind_name = "ADDED" if now_matches else ""
                    elif now_matches:
                        kind_name = "MODIFIED" if was_matching else "ADDED"
                    else:
                        kind_name = "DELETED" if was_matching else ""
                    if kind_name:
                        await response.write(encode(kind_name, event.text))
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            store.unwatch(watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response
