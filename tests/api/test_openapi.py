"""`GET /api/v1/openapi.json` held to what the server really does.

- The routes: every route the app registers under /api/v1 is documented with each of its
  methods, its path parameters' types and the scope its handler enforces; every documented
  operation exists on the app. The two cannot drift apart.
- The document is valid OpenAPI 3.1 (openapi-spec-validator).
- Real answers of a running appliance validate against the documented schema of their status
  (jsonschema), and every status they come with is documented for that operation.
- Fuzz: bodies built from the documented request schemas (`from_schema` below: the subset of
  JSON Schema the document uses; hypothesis-jsonschema 0.23 breaks on current hypothesis), and
  junk, never get a 500, and every 4xx is the documented error shape.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from appliance.api.openapi import DOCUMENT
from appliance.app import Appliance, create_app
from appliance.config import Config
from tests.api.conftest import Gateway, running_in_thread

API = "/api/v1"
KEYS = {"full": ["send", "read"], "reader": ["read"], "sender": ["send"],
        "admin": ["send", "read", "admin"]}
PARAM_TYPES = {"int": "integer", "str": "string"}


def app_operations() -> dict[tuple[str, str], Any]:
    """(OpenAPI path, lower-case method) → handler, for every route under /api/v1."""
    app = create_app(Appliance(Config()))
    out = {}
    for route in app.router.routes:
        uri = "/" + route.path.lstrip("/")
        if not uri.startswith(API + "/"):
            continue
        path = re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", uri)
        for method in route.methods:
            out[(path, method.lower())] = route
    return out


def documented_operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): operation for path, item in DOCUMENT["paths"].items()
            for method, operation in item.items()}


def test_every_route_under_api_v1_is_documented_and_nothing_else_is() -> None:
    on_app, documented = set(app_operations()), set(documented_operations())
    assert not on_app - documented, f"routes not in the document: {sorted(on_app - documented)}"
    assert not documented - on_app, f"documented but not served: {sorted(documented - on_app)}"
    assert all(path.startswith(API + "/") for path, _ in documented)  # no compat door


def test_path_parameters_are_documented_with_their_types() -> None:
    documented = documented_operations()
    for key, route in app_operations().items():
        params = {p["name"]: p for p in documented[key].get("parameters", [])
                  if p["in"] == "path"}
        declared = re.findall(r"<(\w+):(\w+)>", route.path)
        for name, label in declared:
            assert name in params, f"{key}: path parameter {name} not documented"
            assert params[name]["schema"]["type"] == PARAM_TYPES[label], key
        assert len(params) == len(declared), f"{key}: a documented path parameter too many"


def test_documented_scope_is_the_one_the_handler_enforces() -> None:
    documented = documented_operations()
    for key, route in app_operations().items():
        enforced = getattr(route.handler, "required_scope", None)
        operation = documented[key]
        assert operation.get("x-scope") == enforced, key
        assert (operation["security"] == []) == (enforced is None), key
        if enforced is not None:
            assert f"`{enforced}`" in operation["description"], key
            assert {"401", "403"} <= set(operation["responses"]), key


def test_document_is_valid_openapi_3() -> None:
    validate_openapi(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.")
    assert DOCUMENT["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


BODILESS = {f"{API}/webhooks/{{webhook_id}}/test", f"{API}/users/{{user_id}}/unlock"}
"""POSTs that take no body (an action on the resource the path names)."""


def test_every_json_body_operation_documents_its_request_schema_and_400() -> None:
    for (path, method), operation in documented_operations().items():
        if method in ("post", "put", "patch") and path not in BODILESS:
            assert "requestBody" in operation, (path, method)
            assert "400" in operation["responses"], (path, method)


def test_every_error_answer_is_documented_as_the_error_shape() -> None:
    for (path, method), operation in documented_operations().items():
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == f"{API}/health":  # health: its own body on 503
                continue
            response = _resolve(response)
            if method != "head":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


# -- against a running appliance -------------------------------------------------------------


class Live:
    def __init__(self, gateway: Gateway, loop: asyncio.AbstractEventLoop):
        self.gateway = gateway
        self.loop = loop
        self.clients = {name: httpx.Client(base_url=gateway.base_url, timeout=20,
                                           headers=gateway.auth(name)) for name in KEYS}
        self.anonymous = httpx.Client(base_url=gateway.base_url, timeout=20)

    def call(self, method: str, url: str, key: str | None = "admin", **kw: Any) -> httpx.Response:
        client = self.anonymous if key is None else self.clients[key]
        return client.request(method, url, **kw)

    def poll(self, check: Any, what: str, limit: float = 20.0) -> None:
        """Poll `check` from the test's thread (the server's loop must stay free)."""
        deadline = time.monotonic() + limit
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def close(self) -> None:
        for client in [*self.clients.values(), self.anonymous]:
            client.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One appliance for the module, on its own event loop in a thread (hypothesis drives
    synchronous examples against it over HTTP)."""
    tmp = tmp_path_factory.mktemp("openapi")
    with running_in_thread(tmp, modems=1, keys=KEYS) as (gateway, loop):
        session = Live(gateway, loop)
        yield session
        session.close()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
        node = DOCUMENT["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    return node


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]})


ERROR = validator({"$ref": "#/components/schemas/Error"})


def check(response: httpx.Response, path: str, method: str | None = None) -> Any:
    """The answer's status is documented for the operation and its body fits the schema."""
    method = (method or response.request.method).lower()
    operation = DOCUMENT["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {path}: {status} is not documented ({response.text[:300]})")
    sent = response.request.content
    if response.status_code < 300 and sent and "requestBody" in operation:
        # The other way round: a body the server accepted fits the documented request schema.
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        errors = list(validator(schema).iter_errors(json.loads(sent)))
        assert not errors, f"{method.upper()} {path}: accepted {sent[:200]!r}: {errors[0]}"
    documented = _resolve(operation["responses"][status])
    media = documented.get("content", {})
    content = media.get("application/json")
    if content is None and media:  # an export (CSV, JSON lines): its documented media type
        assert response.headers["content-type"].split(";")[0] in media, response.headers
        return None
    if content is None:
        assert not response.content, response.text[:300]
        return None
    body = response.json()
    errors = sorted(validator(content["schema"]).iter_errors(body), key=str)
    assert not errors, (f"{method.upper()} {path} {status}: "
                        + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]))
    return body


def test_document_is_served_without_a_key_and_no_ui_pages(live: Live) -> None:
    response = live.call("GET", f"{API}/openapi.json", key=None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == DOCUMENT
    # sanic-ext is not extended: no /docs pages that would fetch their scripts from a CDN
    # (the box's own page is /api/v1/docs: tests/web/test_api_docs.py).
    for page in ("/docs", "/docs/swagger", "/docs/redoc", "/docs/openapi.json"):
        assert live.call("GET", page, key=None).status_code == 404, page


def test_messages_modems_inbox_answers_match_the_document(live: Live) -> None:
    sent = check(live.call("POST", f"{API}/messages", key="full", json={
        "to": ["+8613800138000", "13900139000"], "text": "hello 你好", "client_ref": "oa-1"}),
        f"{API}/messages")
    message_id = sent["messages"][0]["id"]
    path = f"{API}/messages/{{message_id}}"

    def finished() -> bool:
        body = live.call("GET", f"{API}/messages/{message_id}", key="full").json()
        return body["state"] in ("sent", "delivered")

    live.poll(finished, "the message sent")
    message = check(live.call("GET", f"{API}/messages/{message_id}", key="full"), path)
    assert message["parts"] and message["events"]
    check(live.call("HEAD", f"{API}/messages/{message_id}", key="full"), path)
    check(live.call("DELETE", f"{API}/messages/{message_id}", key="full"), path)  # 409 sent
    modems = check(live.call("GET", f"{API}/modems", key="reader"), f"{API}/modems")
    assert modems["modems"] and modems["modems"][0]["state"] == "ready"
    check(live.call("GET", f"{API}/health", key=None), f"{API}/health")

    modem = live.gateway.fleet.modems[0]
    live.loop.call_soon_threadsafe(modem.inject_sms, "+8613700137000", "reply 1")

    def arrived() -> bool:
        return bool(live.call("GET", f"{API}/inbox", key="reader").json()["messages"])

    live.poll(arrived, "an inbound message")
    inbox = check(live.call("GET", f"{API}/inbox", key="reader"), f"{API}/inbox")
    assert inbox["messages"][0]["text"] == "reply 1"
    check(live.call("GET", f"{API}/inbox", key="reader", params={"since": 0}), f"{API}/inbox")
    check(live.call("GET", f"{API}/conversations/%2B8613700137000", key="reader"),
          f"{API}/conversations/{{number}}")


def test_error_answers_match_the_document(live: Live) -> None:
    messages, one = f"{API}/messages", f"{API}/messages/{{message_id}}"
    bad = check(live.call("POST", messages, key="full", json={"to": "+8613800138000"}),
                messages)
    assert bad["error"]["code"] == "invalid_field" and bad["error"]["field"] == "text"
    assert live.call("POST", messages, key=None, json={}).status_code == 401
    check(live.call("POST", messages, key=None, json={}), messages)
    check(live.call("POST", messages, key="reader", json={}), messages)  # 403
    missing = check(live.call("GET", f"{API}/messages/999999", key="reader"), one)
    assert missing["error"]["code"] == "not_found"
    check(live.call("POST", messages, key="full", content=b"{not json"), messages)
    check(live.call("GET", f"{API}/inbox", key="reader", params={"sice": 3}), f"{API}/inbox")


def test_address_book_rules_webhooks_answers_match_the_document(live: Live) -> None:
    contacts, groups = f"{API}/contacts", f"{API}/groups"
    group = check(live.call("POST", groups, json={"name": "staff"}), groups)
    contact = check(live.call("POST", contacts, json={
        "name": "Li", "numbers": ["13800138001"], "fields": {"dept": "ops"},
        "groups": [group["id"]]}), contacts)
    check(live.call("POST", contacts, json={"numbers": ["13800138001"]}), contacts)  # 409
    check(live.call("GET", contacts, key="reader"), contacts)
    one = f"{contacts}/{{contact_id}}"
    check(live.call("PATCH", f"{contacts}/{contact['id']}", json={"note": "n"}), one)
    check(live.call("GET", f"{contacts}/{contact['id']}", key="reader"), one)
    members = f"{groups}/{{group_id}}/members"
    check(live.call("POST", f"{groups}/{group['id']}/members",
                    json={"numbers": ["13800138002"]}), members)
    check(live.call("GET", f"{groups}/{group['id']}", key="reader"), f"{groups}/{{group_id}}")
    check(live.call("GET", groups, key="reader"), groups)
    check(live.call("DELETE", f"{contacts}/{contact['id']}"), one)

    blacklist = f"{API}/blacklist"
    check(live.call("POST", blacklist, json={"number": "13800138009", "reason": "asked"}),
          blacklist)
    check(live.call("GET", blacklist, key="reader"), blacklist)
    check(live.call("DELETE", f"{blacklist}/%2B8613800138009"), f"{blacklist}/{{number}}")

    rules = f"{API}/rules"
    rule = check(live.call("POST", rules, json={
        "name": "price", "match": "exact", "pattern": "PRICE",
        "conditions": {"senders": "any", "weekdays": ["mon", 2]},
        "actions": [{"type": "reply", "template": "see the list"}]}), rules)
    check(live.call("GET", rules, key="reader"), rules)
    check(live.call("PATCH", f"{rules}/{rule['id']}", json={"enabled": False}),
          f"{rules}/{{rule_id}}")
    check(live.call("POST", f"{rules}/order", json={"ids": [rule["id"]]}), f"{rules}/order")
    check(live.call("GET", f"{rules}/log", key="reader"), f"{rules}/log")
    check(live.call("POST", f"{rules}/dry-run", key="reader",
                    json={"sender": "+8613700137000", "text": "PRICE"}), f"{rules}/dry-run")
    check(live.call("DELETE", f"{rules}/{rule['id']}"), f"{rules}/{{rule_id}}")

    hooks = f"{API}/webhooks"
    hook = check(live.call("POST", hooks, json={"url": "http://127.0.0.1:9/hook",
                                                "events": ["sms.received"], "enabled": False}),
                 hooks)
    assert hook["secret"]
    check(live.call("GET", hooks), hooks)
    check(live.call("GET", hooks, key="reader"), hooks)  # none of its own
    check(live.call("GET", f"{hooks}/{hook['id']}"), f"{hooks}/{{webhook_id}}")
    # not the reader's: 404, as documented
    check(live.call("GET", f"{hooks}/{hook['id']}", key="reader"), f"{hooks}/{{webhook_id}}")
    check(live.call("POST", f"{hooks}/{hook['id']}/test"), f"{hooks}/{{webhook_id}}/test")
    check(live.call("DELETE", f"{hooks}/{hook['id']}"), f"{hooks}/{{webhook_id}}")


# -- fuzz ------------------------------------------------------------------------------------

JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)


SCHEMAS = DOCUMENT["components"]["schemas"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["", " ", "+8613800138000", "13900139000", "10086", "http://127.0.0.1:9/h", "sms.received",
     "*", "2026-12-07T09:30+08:00", "09:00", "mon", "\x00", "\ud800", "x" * 2000])


PHONES = st.sampled_from(["+8613800138000", "13900139000", "+86 138-0013-8001", "10086"])
# Strings that fit the field they go in, so that many bodies are accepted (a 2xx checked too).
NAMED = {"to": PHONES, "numbers": PHONES, "number": PHONES, "sender": PHONES,
         "url": st.sampled_from(["http://127.0.0.1:9/hook", "https://10.0.0.5/x", "ftp://x"]),
         "send_at": st.sampled_from(["2026-12-07T09:30+08:00", "2020-01-01T00:00Z", "soon"]),
         "at": st.sampled_from(["2026-12-07T09:30+08:00", "2026-12-07T09:30"]),
         "from": st.sampled_from(["09:00", "25:00"]), "sims": st.just("89860012345678901234"),
         "weekdays": st.sampled_from(["mon", "sunday", "x"])}


def from_schema(schema: dict[str, Any], depth: int = 0, name: str = "") -> st.SearchStrategy:
    """Values that mostly fit `schema` (the document's subset of JSON Schema); bounds are
    probed at and just past their ends, so some values are meant to be refused. `name`: the
    property the value is for."""
    if "$ref" in schema:
        target = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
        return from_schema({**target, **{k: v for k, v in schema.items() if k != "$ref"}},
                           depth, name)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            return st.one_of([from_schema(s, depth, name) for s in schema[key]])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, depth, name) for k in kind])
    if kind == "string" and name in NAMED:
        return NAMED[name] | TEXT
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63)
        edges = st.sampled_from([low - 1, low, high, high + 1, 0, 1])
        values = edges | st.integers(low, high)
        return values | st.floats(allow_nan=False) if kind == "number" else values
    if kind == "string":
        return TEXT
    if kind == "array":
        if depth > 3:
            return st.just([])
        return st.lists(from_schema(schema.get("items", {}), depth + 1, name),
                        max_size=min(schema.get("maxItems", 4), 4))
    properties = schema.get("properties", {})
    if depth > 3 or not properties:
        return st.just({})
    required = [k for k in schema.get("required", []) if k in properties]
    optional = [k for k in properties if k not in required]
    return st.fixed_dictionaries(
        {k: from_schema(properties[k], depth + 1, k) for k in required},
        optional={k: from_schema(properties[k], depth + 1, k) for k in optional})


def _body_operations() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for (path, method), operation in sorted(documented_operations().items()):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            out.append((path, method, body["schema"]))
    return out


BODY_OPERATIONS = _body_operations()


def _concrete(path: str) -> str:
    # Ids that may or may not exist (1 often does): both 2xx and 404 are documented answers.
    return re.sub(r"\{number\}", "%2B8613800138000", re.sub(r"\{\w+_id\}", "1", path))


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    path, method, schema = draw(st.sampled_from(BODY_OPERATIONS))
    body = draw(from_schema(schema) | JUNK)
    return path, method, body


@pytest.mark.slow
def test_fuzzed_bodies_never_get_a_500_and_errors_are_documented(live: Live) -> None:
    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(request=requests())
    def one(request: tuple[str, str, Any]) -> None:
        path, method, body = request
        # json.dumps escapes lone surrogates (\ud800) as JSON allows; httpx would not encode them
        response = live.call(method.upper(), _concrete(path), content=json.dumps(body),
                             headers={"Content-Type": "application/json"})
        assert response.status_code < 500 or response.status_code == 503, (
            f"{method.upper()} {path} {body!r}: {response.status_code} {response.text[:300]}")
        event(f"{method.upper()} {path} {response.status_code}")
        check(response, path, method)
        if response.status_code >= 400:
            assert not list(ERROR.iter_errors(response.json()))

    one()


def _param_operations() -> list[tuple[str, str, list[dict[str, Any]]]]:
    return [(path, method, operation["parameters"])
            for (path, method), operation in sorted(documented_operations().items())
            if operation.get("parameters") and "requestBody" not in operation]


PARAM_OPERATIONS = _param_operations()
def _utf8(value: object) -> bool:
    """A string a URL can carry (UTF-8: no lone surrogate)."""
    try:
        return isinstance(value, str) and bool(value.encode("utf-8") or True)
    except UnicodeEncodeError:
        return False


def _param_value(parameter: dict[str, Any]) -> st.SearchStrategy:
    schema = parameter["schema"]
    if schema.get("type") == "array":
        schema = schema["items"]
    # Within the URL's limit (8 KB with the headers): beyond it is a 431 for any route.
    text = TEXT.filter(lambda t: _utf8(t) and len(t) <= 200)
    if schema.get("type") == "integer":
        return st.integers(-(2**70), 2**70).map(str) | st.sampled_from(
            ["0", "1", "2", str(2**63 - 1), str(2**63), "-1"]) | text
    return from_schema(schema, name=parameter["name"]).filter(
        lambda t: _utf8(t) and len(t) <= 200) | text


@st.composite
def parameter_requests(draw: st.DrawFn) -> tuple[str, str, str, dict[str, str]]:
    path, method, parameters = draw(st.sampled_from(PARAM_OPERATIONS))
    url, query_values = path, {}
    for parameter in parameters:
        if parameter["in"] == "path":
            value = draw(_param_value(parameter).filter(lambda v: v.strip("/.") != ""))
            url = url.replace("{" + parameter["name"] + "}", quote(value, safe=""))
        elif draw(st.booleans()):
            query_values[parameter["name"]] = draw(_param_value(parameter))
    if draw(st.integers(0, 9)) == 0:
        query_values["unknown"] = "1"
    return path, method, url, query_values


@pytest.mark.slow
def test_fuzzed_parameters_never_get_a_500_and_errors_are_documented(live: Live) -> None:
    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(request=parameter_requests())
    def one(request: tuple[str, str, str, dict[str, str]]) -> None:
        path, method, url, params = request
        response = live.call(method.upper(), url, params=params)
        assert response.status_code < 500 or response.status_code == 503, (
            f"{method.upper()} {url} {params!r}: {response.status_code} {response.text[:300]}")
        check(response, path, method)

    one()
