"""Declaring operations: parsing, authentication, error mapping and the registry behind /openapi.json.

Every route is declared with ``operation(...)``. The same declaration drives the request parsing and
validation (pydantic), the role check, the response serialisation and the OpenAPI document, so the
document cannot drift from what a route really accepts.

A route names its models lazily, as a function returning the model (``request=lambda: s.TimeEntryIn``
with ``s`` a ``LazyModule`` of the schemas module): building pydantic classes is most of what importing
the schemas costs, so the models are imported on the route's first request, or when /openapi.json is
built, rather than at the Lambda's cold start for every route it might serve.
"""

from __future__ import annotations

import json
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar
from urllib.parse import parse_qsl

from chalice import Blueprint, Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.problems import FieldError, problem_response
from chalicelib.container import Container, get_container
from chalicelib.domain.identity import Principal, RequestContext, Role
from chalicelib.domain.ids import is_path_id
from chalicelib.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated, UpstreamUnavailable
from chalicelib.lazy import LazyModule
from chalicelib.logging import logger

if TYPE_CHECKING:
    from chalicelib.domain import accounts as account_domain
    from chalicelib.services import accounts as account_services
else:  # imported on the first authenticated request (cold start)
    account_domain = LazyModule("chalicelib.domain.accounts")
    account_services = LazyModule("chalicelib.services.accounts")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ANY_CONTENT = "*/*"
ANY_ROLE: frozenset[Role] = frozenset(Role)

B = TypeVar("B", bound=BaseModel)
View = Callable[["Call[Any, Any]"], "BaseModel | Response"]
Q = TypeVar("Q", bound=BaseModel)
ModelSource: TypeAlias = type[BaseModel] | Callable[[], type[BaseModel]]
"""A model, or a function returning it (called once, on first use: see the module's docstring)."""

_STATUS_FOR = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (UpstreamUnavailable, 503),
]


def _model(source: ModelSource | None) -> type[BaseModel] | None:
    if source is None or isinstance(source, type):
        return source
    return source()


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    name: str
    summary: str
    tag: str
    request_source: ModelSource | None
    query_source: ModelSource | None
    response_source: ModelSource | None
    status: int
    roles: frozenset[Role] | None  # None: public
    content_types: tuple[str, ...]
    errors: tuple[int, ...]
    max_body_bytes: int | None = None  # None: the MAX_BODY_BYTES setting
    raw: bool = False  # the view reads the body's bytes and headers itself (a signed webhook)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    # The models themselves, imported on first use and then kept (cached_property writes the instance's
    # __dict__ directly, which a frozen dataclass allows).
    @cached_property
    def request(self) -> type[BaseModel] | None:
        return _model(self.request_source)

    @cached_property
    def query(self) -> type[BaseModel] | None:
        return _model(self.query_source)

    @cached_property
    def response(self) -> type[BaseModel] | None:
        return _model(self.response_source)


REGISTRY: list[Operation] = []


@dataclass
class Call(Generic[B, Q]):
    """What a view receives: the validated input, the caller and the composition root."""

    container: Container
    principal: Principal | None
    body: B
    query: Q
    path: dict[str, str]
    context: RequestContext
    raw_body: bytes = b""  # for ``raw`` operations only: exactly the bytes received
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def user(self) -> Principal:
        assert self.principal is not None, "operation declared public"
        return self.principal


class _BadRequest(Exception):
    def __init__(self, status: int, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors


def operation(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    tag: str,
    request: ModelSource | None = None,
    query: ModelSource | None = None,
    response: ModelSource | None = None,
    status: int = 200,
    roles: frozenset[Role] | None = ANY_ROLE,
    errors: tuple[int, ...] = (),
    max_body_bytes: int | None = None,
    raw: bool = False,
) -> Callable[[View], Callable[..., Response]]:
    content_types = (JSON, FORM) if request is not None else (ANY_CONTENT,)

    def decorate(view: View) -> Callable[..., Response]:
        op = Operation(
            path, method, view.__name__, summary, tag, request, query, response, status, roles, content_types, errors, max_body_bytes, raw
        )
        REGISTRY.append(op)

        def handle(**path_params: str) -> Response:
            return _dispatch(op, bp, view, path_params)

        handle.__name__ = view.__name__
        bp.route(path, methods=[method], content_types=list(content_types))(handle)
        return handle

    return decorate


def _dispatch(op: Operation, bp: Blueprint, view: View, path: dict[str, str]) -> Response:
    request = bp.current_request
    started = time.perf_counter()
    try:
        response = _run(op, request, view, path)
    except _BadRequest as exc:
        response = problem_response(exc.status, exc.detail, errors=exc.errors)
    except DomainError as exc:
        response = _domain_problem(exc)
    except Exception as exc:
        # Type and stack only: exception messages may quote stored personal data.
        logger.error(
            "unhandled error", extra={"operation": op.name, "error": type(exc).__name__, "stack": traceback.format_tb(exc.__traceback__)}
        )
        response = problem_response(500, "An internal error occurred.")
    logger.info(
        "request",
        extra={
            "operation": op.name,
            "method": op.method,
            "route": op.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return response


def _domain_problem(exc: DomainError) -> Response:
    status = next(code for kind, code in [*_STATUS_FOR, (DomainError, 400)] if isinstance(exc, kind))
    errors = [FieldError(field=i.field, message=i.message, code=i.code) for i in exc.issues] or None
    headers = {"WWW-Authenticate": 'Bearer realm="customersonly"'} if status == 401 else None
    current_state = exc.current_state if isinstance(exc, Conflict) else None
    return problem_response(status, exc.detail, errors=errors, headers=headers, current_state=current_state)


def _run(op: Operation, request: Any, view: View, path: dict[str, str]) -> Response:
    container = get_container()
    for name in op.path_params:
        # Every path parameter is an id; anything else cannot name an object the caller may see.
        if not is_path_id(path.get(name, "")):
            raise NotFound("Not found.")
    principal = authenticate(container, request.headers) if op.roles is not None else None
    if principal is not None and op.roles is not None and not (principal.roles & op.roles):
        raise Forbidden("Your role may not use this operation.")
    limit = op.max_body_bytes or container.settings.max_body_bytes
    body_model, query_model = op.request, op.query
    body = _parse_body(body_model, request, limit) if body_model else None
    raw = _raw_body(request, limit) if op.raw else b""
    query = _validate(query_model, _query_dict(request.query_params), prefix="query") if query_model else None
    headers = request.headers
    context = RequestContext(ip=_client_ip(request), user_agent=(headers.get("user-agent") or "")[:512] or None)
    result = view(Call(container, principal, body, query, path, context, raw, headers))
    if isinstance(result, Response):  # an operation documented with a free-form body (the OpenAPI document)
        return result
    return Response(body=result.model_dump_json(), status_code=op.status, headers={"Content-Type": JSON})


def authenticate(container: Container, headers: Mapping[str, str]) -> Principal:
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("A bearer token is required.")
    verified = container.token_verifier.verify(token.strip())
    user = container.account_repository.get_user(verified.subject)
    if user is not None and user.status is account_domain.UserStatus.PENDING_VERIFICATION:
        raise Unauthenticated("Confirm your e-mail address first: follow the link in the message we sent.")
    if user is None or user.status is not account_domain.UserStatus.ACTIVE:
        raise Unauthenticated("The account is not active.")
    account_services.note_activity(container.accounts, user)
    # A role counts only if both the token and the stored user have it: removing a role in either place
    # takes effect at once, without waiting for the token to expire.
    return Principal(user_id=user.user_id, roles=verified.groups & user.roles, org_id=user.org_id)


def _client_ip(request: Any) -> str | None:
    identity = request.context.get("identity") or {}
    return identity.get("sourceIp")


def _raw_body(request: Any, limit: int) -> bytes:
    try:
        raw: bytes = request.raw_body or b""
    except ValueError:
        raise _BadRequest(400, "The request body is not valid base64.") from None
    if len(raw) > limit:
        raise _BadRequest(413, f"The request body exceeds {limit} bytes.")
    return raw


def _parse_body(model: type[BaseModel], request: Any, limit: int) -> BaseModel:
    raw = _raw_body(request, limit)
    media_type = (request.headers.get("content-type") or JSON).split(";")[0].strip().lower()
    # A form whose fields were all left blank posts nothing: it is an empty form, not a missing one.
    if not raw.strip() and media_type != FORM:
        raise _BadRequest(400, "A request body is required.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _BadRequest(400, "The request body is not valid UTF-8.") from None
    if media_type == FORM:
        data: Any = _form_to_dict(text)
    else:
        try:
            data = json.loads(text)
        except RecursionError:
            raise _BadRequest(400, "The request body is nested too deeply.") from None
        except ValueError as exc:
            raise _BadRequest(400, f"The request body is not valid JSON: {exc.args[0] if exc.args else exc}") from None
    return _validate(model, data, prefix="")


def _validate(model: type[B], data: Any, prefix: str) -> B:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            location = ".".join(str(part) for part in error["loc"])
            where = ".".join(p for p in (prefix, location) if p) or "body"
            errors.append(FieldError(field=where, message=error["msg"], code=error["type"]))
        raise _BadRequest(422, "The request is not valid; see errors.", errors) from None


def _query_dict(params: Any) -> dict[str, str]:
    if not params:
        return {}
    return {key: params.getlist(key)[-1] for key in params}


def _form_to_dict(text: str) -> dict[str, Any]:
    """Web forms post flat names; dotted names build nested objects: ``admin.email`` → {"admin": {"email"}}.

    Empty fields are treated as not given, so an optional input left blank is simply absent."""
    try:
        pairs = parse_qsl(text, keep_blank_values=False, strict_parsing=False, max_num_fields=200)
    except ValueError:
        raise _BadRequest(413, "The form has too many fields.") from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        node = data
        *parents, leaf = name.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise _BadRequest(
                    422, "The form is not valid.", [FieldError(field=name, message="conflicts with another field", code="form_shape")]
                )
            node = child
        if leaf in node:
            raise _BadRequest(
                422, "The form is not valid.", [FieldError(field=name, message="given more than once", code="duplicate_field")]
            )
        node[leaf] = value
    return data
