#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine:
#   - against the Compose Specification's JSON schema (vendored in
#     deploy/compose-spec/, see its README), after interpolating the
#     variables of .env (else .env.example) as Compose does;
#   - against this project's rules (pinned tags, healthchecks everywhere,
#     depends_on on service_healthy, a scalable normalizer);
#   - with an infragraph binary (INFRAGRAPH_BIN, else the debug build in
#     $CARGO_TARGET_DIR if there is one): each stage's command and INFRAGRAPH_*
#     variables against that binary's --help.
#
#   deploy/check-compose.sh [COMPOSE_FILE]
#
# jsonschema and PyYAML come from PyPI into a venv under $INFRAGRAPH_CACHE
# once; after that it needs no network. Exits non-zero on any problem.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
COMPOSE_FILE="${1:-$ROOT/docker-compose.yml}"
CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
JSONSCHEMA_VERSION=4.26.0
PYYAML_VERSION=6.0.4
VENV="$CACHE/compose-check-jsonschema-$JSONSCHEMA_VERSION-pyyaml-$PYYAML_VERSION"

source "$ROOT/scripts/venv.sh"
ensure_venv "$VENV" "jsonschema==$JSONSCHEMA_VERSION" "PyYAML==$PYYAML_VERSION"

ENV_FILE="$ROOT/.env"
[ -f "$ENV_FILE" ] || ENV_FILE="$ROOT/.env.example"

BIN="${INFRAGRAPH_BIN:-}"
if [ -z "$BIN" ] && [ -x "${CARGO_TARGET_DIR:-$ROOT/target}/debug/infragraph" ]; then
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/infragraph"
fi
[ -n "$BIN" ] || echo "[check-compose] no infragraph binary (INFRAGRAPH_BIN): stage commands and variables not checked" >&2

exec "$VENV/bin/python" "$HERE/check_compose.py" "$COMPOSE_FILE" "$HERE/compose-spec/compose-spec.json" "$ENV_FILE" "$BIN"
