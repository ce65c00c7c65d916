"""The web UI's sign-in on AWS (WebUi=enabled): the two CloudFront Functions exactly as template.yaml deploys them, and
the browser sign-in script (functions/ui_publisher/auth/signin.js), each run by node on real event shapes.

CloudFront Functions get ``event.request`` with ``headers``/``cookies`` as ``{name: {value}}`` maps (lower-case header
names) and return either the request or a response. The harness runs each function in a fresh V8 context holding only
what the cloudfront-js-2.0 runtime offers and node happens to share (``Buffer``, ``Date``, ``JSON``), so code relying
on ``require`` or ``process`` fails here as it would at the edge.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from stratus_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SIGNIN_JS = ROOT / "functions" / "ui_publisher" / "auth" / "signin.js"
COOKIE = "__Host-stratus-token"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

EDGE_HARNESS = """
const fs = require('fs');
const vm = require('vm');
const [codePath, eventsPath] = process.argv.slice(2);
const context = vm.createContext({ Buffer: Buffer });
vm.runInContext(fs.readFileSync(codePath, 'utf8'), context);
const events = JSON.parse(fs.readFileSync(eventsPath, 'utf8'));
process.stdout.write(JSON.stringify(events.map((event) => context.handler(event))));
"""


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def run_node(tmp_path: Path, script: str, *args: str) -> Any:
    harness = tmp_path / "harness.js"
    harness.write_text(script, encoding="utf-8")
    done = subprocess.run([str(NODE), str(harness), *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_edge_function(template: dict[str, Any], tmp_path: Path, logical_id: str, events: list[dict[str, Any]]) -> Any:
    code = tmp_path / f"{logical_id}.js"
    code.write_text(template["Resources"][logical_id]["Properties"]["FunctionCode"], encoding="utf-8")
    events_file = tmp_path / "events.json"
    events_file.write_text(json.dumps(events), encoding="utf-8")
    return run_node(tmp_path, EDGE_HARNESS, str(code), str(events_file))


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2lnbmF0dXJl"


def viewer_request(uri: str, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict:
    """A CloudFront Functions viewer-request event, as the documentation's example shows it."""
    return {
        "version": "1.0",
        "context": {
            "distributionDomainName": "d111111abcdef8.cloudfront.net",
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": "viewer-request",
            "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
        },
        "viewer": {"ip": "198.51.100.11"},
        "request": {
            "method": "GET",
            "uri": uri,
            "querystring": {},
            "headers": {"host": {"value": "d111111abcdef8.cloudfront.net"}}
            | {name: {"value": value} for name, value in (headers or {}).items()},
            "cookies": {name: {"value": value} for name, value in (cookies or {}).items()},
        },
    }


def is_redirect_to_sign_in(result: dict[str, Any]) -> bool:
    return result.get("statusCode") == 302 and result["headers"]["location"]["value"] == "/auth/login"


def test_sign_in_function_sends_browser_without_token_to_login(template: dict[str, Any], tmp_path: Path) -> None:
    [result] = run_edge_function(template, tmp_path, "UiSignInFunction", [viewer_request("/")])

    assert is_redirect_to_sign_in(result)
    assert result["headers"]["cache-control"]["value"] == "no-store"


def test_sign_in_function_lets_current_token_through_unchanged(template: dict[str, Any], tmp_path: Path) -> None:
    event = viewer_request("/index.html", cookies={COOKIE: jwt({"sub": "u1", "exp": int(time.time()) + 3600})})

    [result] = run_edge_function(template, tmp_path, "UiSignInFunction", [event])

    assert result == event["request"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(jwt({"sub": "u1", "exp": int(time.time()) - 5}), id="expired"),
        pytest.param(jwt({"sub": "u1", "exp": int(time.time()) + 10}), id="expires-within-skew"),
        pytest.param(jwt({"sub": "u1"}), id="no-exp"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("a.%%%.c", id="bad-base64"),
    ],
)
def test_sign_in_function_sends_stale_or_broken_token_to_login(
    template: dict[str, Any], tmp_path: Path, token: str
) -> None:
    [result] = run_edge_function(template, tmp_path, "UiSignInFunction", [viewer_request("/", cookies={COOKIE: token})])

    assert is_redirect_to_sign_in(result)


@pytest.mark.parametrize("uri", ["/auth/login", "/auth/callback", "/auth/config.json", "/static-files/static/js/a.js"])
def test_sign_in_function_leaves_sign_in_pages_and_assets_open(
    template: dict[str, Any], tmp_path: Path, uri: str
) -> None:
    event = viewer_request(uri)

    [result] = run_edge_function(template, tmp_path, "UiSignInFunction", [event])

    assert result == event["request"]


def test_api_token_function_moves_cookie_into_bearer_header(template: dict[str, Any], tmp_path: Path) -> None:
    token = jwt({"sub": "u1", "exp": int(time.time()) + 3600})
    event = viewer_request("/ajax-api/2.0/mlflow/experiments/search", cookies={COOKIE: token, "other": "kept"})

    [request] = run_edge_function(template, tmp_path, "UiApiTokenFunction", [event])

    assert request["headers"]["authorization"] == {"value": f"Bearer {token}"}
    assert request["cookies"] == {"other": {"value": "kept"}}
    assert request["uri"] == "/ajax-api/2.0/mlflow/experiments/search"


def test_api_token_function_keeps_callers_own_authorization(template: dict[str, Any], tmp_path: Path) -> None:
    event = viewer_request(
        "/api/2.0/mlflow/runs/get", cookies={COOKIE: "cookie-token"}, headers={"authorization": "Bearer client-token"}
    )

    [request] = run_edge_function(template, tmp_path, "UiApiTokenFunction", [event])

    assert request["headers"]["authorization"] == {"value": "Bearer client-token"}


def test_api_token_function_without_cookie_adds_nothing(template: dict[str, Any], tmp_path: Path) -> None:
    event = viewer_request("/graphql")

    [request] = run_edge_function(template, tmp_path, "UiApiTokenFunction", [event])

    assert request == event["request"]


def test_edge_functions_fit_cloudfront_limits(template: dict[str, Any]) -> None:
    for logical_id in ("UiSignInFunction", "UiApiTokenFunction"):
        properties = template["Resources"][logical_id]["Properties"]
        assert properties["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
        assert len(properties["FunctionCode"].encode()) <= 10 * 1024  # CloudFront Functions' size limit


def test_every_ui_route_of_the_api_has_a_cache_behavior_with_the_token_function(template: dict[str, Any]) -> None:
    """A route missing from the distribution would be answered by the UI bucket (403) instead of the API."""
    config = template["Resources"]["UiDistribution"]["Properties"]["DistributionConfig"]
    behaviors = config["CacheBehaviors"]
    routes = {
        event["Properties"]["Path"]
        for resource in template["Resources"].values()
        if resource.get("Type") == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event.get("Type") == "HttpApi" and "Path" in event.get("Properties", {})
    }

    unrouted = [path for path in routes if not any(fnmatch.fnmatchcase(path, b["PathPattern"]) for b in behaviors)]

    assert unrouted == []
    for behavior in behaviors:
        assert behavior["TargetOriginId"] == "http-api"
        assert behavior["FunctionAssociations"] == [
            {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": ["UiApiTokenFunction", "FunctionARN"]}}
        ]
    assert config["DefaultCacheBehavior"]["FunctionAssociations"][0]["FunctionARN"] == {
        "Fn::GetAtt": ["UiSignInFunction", "FunctionARN"]
    }


# --------------------------------------------------------------------------------------------------------------------
# signin.js: the browser half, with the browser's globals faked (node has crypto.subtle, btoa/atob, URLSearchParams).

SIGNIN_HARNESS = """
const fs = require('fs');
const [scriptPath, scenarioPath] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioPath, 'utf8'));
const storage = new Map(Object.entries(scenario.session || {}));
const seen = { fetches: [], cookie: null, assigned: null, replaced: null };
globalThis.location = {
  origin: 'https://d111111abcdef8.cloudfront.net', hash: scenario.hash || '', search: scenario.search || '',
  assign: (url) => { seen.assigned = url; }, replace: (url) => { seen.replaced = url; },
};
globalThis.sessionStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null), setItem: (k, v) => storage.set(k, v),
  removeItem: (k) => storage.delete(k),
};
globalThis.document = { set cookie(value) { seen.cookie = value; }, getElementById: () => null };
globalThis.fetch = async (url, init) => {
  seen.fetches.push({ url, init: init || null });
  const answer = scenario.answers[url];
  return { ok: answer.status === 200, status: answer.status, json: async () => answer.body };
};
eval(fs.readFileSync(scriptPath, 'utf8'));
(async () => {
  let error = null;
  let value = null;
  try {
    value = await globalThis.StratusSignIn[scenario.call](...(scenario.args || []));
  } catch (e) {
    error = e.message;
  }
  seen.session = Object.fromEntries(storage);
  process.stdout.write(JSON.stringify({ error, value, ...seen }));
})();
"""

CONFIG = {
    "authorizationEndpoint": "https://example.auth.us-east-1.amazoncognito.com/oauth2/authorize",
    "tokenEndpoint": "https://example.auth.us-east-1.amazoncognito.com/oauth2/token",
    "clientId": "client-a",
    "scope": "openid email",
}


def run_signin(tmp_path: Path, scenario: dict[str, Any]) -> dict[str, Any]:
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario), encoding="utf-8")
    return run_node(tmp_path, SIGNIN_HARNESS, str(SIGNIN_JS), str(scenario_file))


def test_pkce_challenge_matches_rfc_7636_example(tmp_path: Path) -> None:
    result = run_signin(
        tmp_path,
        {"call": "codeChallenge", "args": ["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"], "answers": {}},
    )

    assert result["value"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_login_redirects_to_issuer_with_pkce_and_remembers_the_route(tmp_path: Path) -> None:
    result = run_signin(
        tmp_path,
        {"call": "login", "hash": "#/experiments/1", "answers": {"/auth/config.json": {"status": 200, "body": CONFIG}}},
    )

    assert result["error"] is None
    url, _, query = result["assigned"].partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    pending = json.loads(result["session"]["stratus-sign-in"])
    assert url == CONFIG["authorizationEndpoint"]
    assert params["response_type"] == "code"
    assert params["client_id"] == "client-a"
    assert params["redirect_uri"] == "https%3A%2F%2Fd111111abcdef8.cloudfront.net%2Fauth%2Fcallback"
    assert params["scope"] == "openid+email"
    assert params["code_challenge_method"] == "S256"
    assert (params["state"], params["nonce"]) == (pending["state"], pending["nonce"])
    assert pending["next"] == "/#/experiments/1"
    check = run_signin(tmp_path, {"call": "codeChallenge", "args": [pending["verifier"]], "answers": {}})
    assert params["code_challenge"] == check["value"]


def callback_scenario(id_token: str, state: str = "s1", token_status: int = 200) -> dict[str, Any]:
    pending = {"verifier": "v" * 43, "state": "s1", "nonce": "n1", "next": "/#/models"}
    return {
        "call": "callback",
        "search": f"?code=c1&state={state}",
        "session": {"stratus-sign-in": json.dumps(pending)},
        "answers": {
            "/auth/config.json": {"status": 200, "body": CONFIG},
            CONFIG["tokenEndpoint"]: {"status": token_status, "body": {"id_token": id_token, "access_token": "x"}},
        },
    }


def test_callback_exchanges_code_sets_cookie_and_returns_to_route(tmp_path: Path) -> None:
    id_token = jwt({"sub": "u1", "nonce": "n1", "aud": "client-a", "exp": int(time.time()) + 3600})

    result = run_signin(tmp_path, callback_scenario(id_token))

    assert result["error"] is None
    token_call = result["fetches"][1]
    form = dict(pair.split("=", 1) for pair in token_call["init"]["body"].split("&"))
    assert token_call["url"] == CONFIG["tokenEndpoint"]
    assert token_call["init"]["method"] == "POST"
    assert form == {
        "grant_type": "authorization_code",
        "code": "c1",
        "redirect_uri": "https%3A%2F%2Fd111111abcdef8.cloudfront.net%2Fauth%2Fcallback",
        "client_id": "client-a",
        "code_verifier": "v" * 43,
    }
    name_value, *attributes = result["cookie"].split("; ")
    assert name_value == f"{COOKIE}={id_token}"
    assert {"Path=/", "Secure", "SameSite=Lax"} <= set(attributes)
    assert 3500 < int(next(a for a in attributes if a.startswith("Max-Age=")).split("=")[1]) <= 3600
    assert result["replaced"] == "/#/models"
    assert result["session"] == {}


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        pytest.param(
            callback_scenario(jwt({"nonce": "n1", "exp": int(time.time()) + 3600}), state="forged"),
            "state mismatch",
            id="state",
        ),
        pytest.param(
            callback_scenario(jwt({"nonce": "other", "exp": int(time.time()) + 3600})), "nonce mismatch", id="nonce"
        ),
        pytest.param(callback_scenario(jwt({"nonce": "n1", "exp": 1})), "already expired", id="expired"),
        pytest.param(callback_scenario("", token_status=400), "refused the sign-in code", id="refused"),
    ],
)
def test_callback_refuses_and_sets_no_cookie(tmp_path: Path, scenario: dict[str, Any], message: str) -> None:
    result = run_signin(tmp_path, scenario)

    assert message in result["error"]
    assert result["cookie"] is None
    assert result["replaced"] is None
