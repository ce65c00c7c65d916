#!/usr/bin/env bash
# Checks template.yaml the way a deploy would see it, without an AWS account:
#   1. sam validate --language-extensions   (the SAM translator, after AWS::LanguageExtensions)
#   2. sam validate --lint                  (cfn-lint through SAM CLI)
#   3. cfn-lint template.yaml
#   4. every AuthorizationType translates: AWS_IAM and JWT guard every route, NONE guards none (AWS_IAM also with
#      project runs on, which adds the Batch resources)
#   5. checkov                              (IaC security scan; skips carry their reason in template.yaml)
#   6. sam build                            (layers/stratus/Makefile: arm64 wheels + python3.12 bytecode; functions)
#   7. the built layer                      (arm64 pydantic-core; every module has the .pyc that python3.12 reads)
# aws-sam-cli pins its own boto3/pydantic, so it lives in its own virtualenv ($SAM_VENV), never in the
# project's .venv. The venv is reused when its `sam` works and created (or repaired) otherwise. checkov pins
# dozens of packages too, so it gets a virtualenv of its own ($CHECKOV_VENV), made the same way. Both default to
# the user's cache ($XDG_CACHE_HOME or ~/.cache, under stratus/), where DynamoDB Local and the conformance checkout
# already live, so any machine runs the same checks as CI; set SAM_VENV / CHECKOV_VENV to reuse existing ones.
# Exits non-zero if any check fails. Run from anywhere: `bash .ci/sam-checks.sh`.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/stratus"
SAM_VENV="${SAM_VENV:-$CACHE_DIR/sam-venv}"
SAM_CLI_VERSION="${SAM_CLI_VERSION:-1.170.0}"
# `sam build` needs a python3.12 on PATH: the functions' BuildMethod python3.12 and the StratusLayer Makefile
# (pip for the arm64 wheels, compileall for the runtime's bytecode) both run it. PY312_BIN names its folder; else
# a python3.12 already on PATH; else pyenv's newest 3.12; else uv's (`uv python find 3.12`).
find_py312_bin() {
    local found
    if [ -n "${PY312_BIN:-}" ]; then
        echo "$PY312_BIN"
    elif python3.12 --version >/dev/null 2>&1; then  # (a pyenv shim is on PATH without a 3.12 selected)
        dirname "$(command -v python3.12)"
    elif found="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin 2>/dev/null | sort -V | tail -1)" &&
        [ -n "$found" ]; then
        echo "$found"
    elif command -v uv >/dev/null 2>&1 && found="$(uv python find 3.12 2>/dev/null)"; then
        # uv's interpreter is named python3.12 in its bin folder too
        dirname "$found"
    fi
}
PY312_BIN="$(find_py312_bin)"
# .aws-sam is git-ignored; sam build keeps build.toml and .aws-sam/deps beside it for --cached rebuilds.
SAM_BUILD_DIR="${SAM_BUILD_DIR:-$ROOT/.aws-sam/build}"
SAM_CACHE_DIR="${SAM_CACHE_DIR:-$ROOT/.aws-sam/cache}"
CHECKOV_VENV="${CHECKOV_VENV:-$CACHE_DIR/checkov-venv}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
# The SAM translations of template.yaml (default parameters, and with project runs on), written by the auth-mode check
# and scanned by checkov.
TRANSLATED_DIR="$(mktemp -d)"
trap 'rm -rf "$TRANSLATED_DIR"' EXIT

export SAM_CLI_TELEMETRY=0
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
[ -n "$PY312_BIN" ] && [ -d "$PY312_BIN" ] && export PATH="$PY312_BIN:$PATH"

log() { printf '\n=== %s\n' "$*"; }

if ! command -v python3.12 >/dev/null 2>&1; then
    echo "sam-checks: python3.12 not found (install it, e.g. \`uv python install 3.12\`, or set PY312_BIN); sam build needs it for the functions and the layer" >&2
    exit 1
fi

ensure_sam() {
    if "$SAM_VENV/bin/sam" --version >/dev/null 2>&1; then
        return 0
    fi
    log "installing aws-sam-cli==$SAM_CLI_VERSION into $SAM_VENV"
    if [ ! -x "$SAM_VENV/bin/python" ]; then
        python3.12 -m venv "$SAM_VENV" || return 1
    fi
    # (grep drops pip's notes about unusable find-links locations; real errors still reach stderr)
    "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION" \
        2> >(grep -v '^WARNING: Location ' >&2) || return 1
    "$SAM_VENV/bin/sam" --version >/dev/null
}

if ! ensure_sam; then
    echo "sam-checks: could not install aws-sam-cli into $SAM_VENV" >&2
    exit 1
fi
SAM="$SAM_VENV/bin/sam"
CFN_LINT="$SAM_VENV/bin/cfn-lint"
echo "$("$SAM" --version); cfn-lint $("$CFN_LINT" --version | awk '{print $2}'); $(python3.12 --version) for builds"

cd "$ROOT" || exit 1

failed=()
run() {
    local name="$1"
    shift
    log "$name: $*"
    if timed "$@"; then
        echo "--- $name: ok"
    else
        echo "--- $name: FAILED" >&2
        failed+=("$name")
    fi
}

check_auth_modes() {
    "$SAM_VENV/bin/python" - template.yaml "$TRANSLATED_DIR" <<'PY'
"""Translate the template for each AuthorizationType and check which routes are guarded, and by what."""
import json
import sys

from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

source = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
# Every HttpApi event of every function is one route (the one without a Path is $default).
EXPECTED_ROUTES = sum(
    1
    for resource in source["Resources"].values()
    if resource.get("Type") == "AWS::Serverless::Function"
    for event in (resource.get("Properties", {}).get("Events") or {}).values()
    if event.get("Type") == "HttpApi"
)
pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "stratus",
          "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
JWT = {"JwtIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE", "JwtAudience": "client-a,client-b"}
# Project runs, deployments, monitoring and SnapStart on (a ProjectRunnerImage, a ServingImage, Monitoring=enabled): the Batch resources, the network,
# ProjectJobEventsFunction, the serving role, image builds and DeploymentRolloutsFunction are translated with their
# references (a resource whose condition is false loses them to AWS::LanguageExtensions).
PROJECTS = {
    "ProjectRunnerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/stratus-runner:ci",
    "ServingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/stratus-serving:ci",
    "Monitoring": "enabled",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:stratus-alarms",
    "SnapStart": "enabled",  # published versions behind the live alias, which the routes must call
}
ok = True
# (AuthorizationType, the security scheme every route must name (None: no route has one), extra parameters)
CASES = (
    ("AWS_IAM", "AWS_IAM", {}), ("JWT", "OidcAuthorizer", JWT), ("NONE", None, {}), ("AWS_IAM", "AWS_IAM", PROJECTS)
)
for auth, scheme, extra in CASES:
    params = {name: str(p.get("Default")) for name, p in source["Parameters"].items()}
    params.update(AuthorizationType=auth, **extra)
    template = expand_language_extensions(source, parameter_values={**pseudo, **params}, enabled=True).expanded_template
    template["Transform"] = "AWS::Serverless-2016-10-31"
    for resource in template["Resources"].values():  # the translator wants S3 URIs; sam build checks the dirs
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key.zip"
    out = Translator(None, Parser()).translate(template, parameter_values=params, get_managed_policy_map=dict)
    body = out["Resources"]["HttpApi"]["Properties"]["Body"]
    paths = body["paths"]
    operations = [(path, op) for path, ops in paths.items() for op in ops.values()]
    secured = [path for path, op in operations if op.get("security") == [{scheme: []}]]
    unsecured = [path for path, op in operations if not op.get("security")]
    expected = len(operations) if scheme else 0
    label = f"AuthorizationType={auth}" + (" with project runs and deployments" if extra is PROJECTS else "")
    print(f"{label}: {len(operations)} routes, {len(secured)} behind {scheme}, {len(unsecured)} open")
    if len(operations) != EXPECTED_ROUTES or len(secured) != expected or "/$default" not in paths:
        print(f"  expected {EXPECTED_ROUTES} routes including /$default, {expected} behind {scheme}", file=sys.stderr)
        ok = False
    if scheme is None and len(unsecured) != len(operations):
        print(f"  expected every route open, got {len(operations) - len(unsecured)} guarded", file=sys.stderr)
        ok = False
    # every route calls a function's live alias (AutoPublishAlias), where SnapStart applies, never $LATEST
    targets = [json.dumps(op.get("x-amazon-apigateway-integration", {}).get("uri")) for _, op in operations]
    direct = sorted({target for target in targets if "Aliaslive" not in target})
    if direct:
        print(f"  routes that do not call a live alias: {direct}", file=sys.stderr)
        ok = False
    jwt = body.get("components", {}).get("securitySchemes", {}).get("OidcAuthorizer")
    jwt_config = (jwt or {}).get("x-amazon-apigateway-authorizer", {}).get("jwtConfiguration")
    wanted = {"issuer": JWT["JwtIssuer"], "audience": JWT["JwtAudience"].split(",")} if auth == "JWT" else None
    if jwt_config != wanted:
        print(f"  JWT authorizer configuration {jwt_config}, expected {wanted}", file=sys.stderr)
        ok = False
    if auth == source["Parameters"]["AuthorizationType"]["Default"]:  # what checkov scans
        for name, resource in out["Resources"].items():
            # SAM's own on-failure queues carry no Metadata to skip in; SQS encrypts every new queue (SSE-SQS).
            if resource["Type"] == "AWS::SQS::Queue" and name not in source["Resources"]:
                reason = "Generated by SAM for an on-failure destination; SQS encrypts new queues with SSE-SQS."
                resource.setdefault("Metadata", {})["checkov"] = {"skip": [{"id": "CKV_AWS_27", "comment": reason}]}
        suffix = ".projects" if extra is PROJECTS else ""
        with open(f"{sys.argv[2]}/template.{auth}{suffix}.json", "w", encoding="utf-8") as translated:
            json.dump(out, translated, indent=1)
sys.exit(0 if ok else 1)
PY
}

ensure_checkov() {
    if "$CHECKOV_VENV/bin/checkov" --version >/dev/null 2>&1; then
        return 0
    fi
    log "installing checkov==$CHECKOV_VERSION into $CHECKOV_VENV"
    if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
        python3.12 -m venv "$CHECKOV_VENV" || return 1
    fi
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" \
        2> >(grep -v '^WARNING: Location ' >&2) || return 1
    "$CHECKOV_VENV/bin/checkov" --version >/dev/null
}

# The source template (Metadata skips apply there) and its translations (the IAM roles, the API and its stage as SAM
# generates them, and the project resources); .checkov.yaml holds the settings and the skips that apply to every
# resource. checkov exits 1 on any failed check that is not skipped.
run_checkov() {
    ensure_checkov || return 1
    echo "checkov $("$CHECKOV_VENV/bin/checkov" --version)"
    BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE "$CHECKOV_VENV/bin/checkov" --config-file .checkov.yaml \
        -f template.yaml -f "$TRANSLATED_DIR/template.AWS_IAM.json" -f "$TRANSLATED_DIR/template.AWS_IAM.projects.json"
}

timed() {
    local start=$SECONDS
    "$@"
    local rc=$?
    echo "($((SECONDS - start)) s)"
    return $rc
}

# What Lambda's python3.12 on arm64 needs from the built layer: pydantic-core's arm64 extension, and beside every
# module an unchecked-hash cpython-312 .pyc (a missing or timestamp-checked one is compiled again on every cold start,
# since /opt is read-only).
check_layer() {
    python3.12 - "$SAM_BUILD_DIR/StratusLayer/python" <<'PY'
import pathlib
import sys

layer = pathlib.Path(sys.argv[1])
problems = []
if not list(layer.glob("pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so")):
    problems.append("no arm64 pydantic-core extension for CPython 3.12")
sources = [p for p in layer.rglob("*.py") if "__pycache__" not in p.parts]
uncompiled = []
for source in sources:
    pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
    # PEP 552 flags: 0b01 = hash-based, 0b10 = check the source; unchecked-hash is exactly 0b01
    if not pyc.is_file() or int.from_bytes(pyc.read_bytes()[4:8], "little") != 0b01:
        uncompiled.append(source.relative_to(layer))
if not (layer / "stratus" / "__init__.py").is_file():
    problems.append("no stratus package")
if uncompiled:
    problems.append(f"{len(uncompiled)} of {len(sources)} modules without an unchecked-hash cpython-312 .pyc, "
                    f"e.g. {', '.join(map(str, uncompiled[:3]))}")
print(f"{layer}: {len(sources)} modules, {len(sources) - len(uncompiled)} compiled for python3.12")
for problem in problems:
    print(f"  {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

run "sam validate" "$SAM" validate --language-extensions --template-file template.yaml
run "sam validate --lint" "$SAM" validate --lint --template-file template.yaml
run "cfn-lint" "$CFN_LINT" template.yaml
run "auth modes" check_auth_modes
run "checkov" run_checkov
run "sam build" "$SAM" build --template-file template.yaml --build-dir "$SAM_BUILD_DIR" \
    --cached --cache-dir "$SAM_CACHE_DIR" --parallel
run "built layer" check_layer

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\nsam-checks FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nsam-checks OK (sam validate, sam validate --lint, cfn-lint, auth modes, checkov, sam build, built layer)\n'
