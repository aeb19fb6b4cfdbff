#!/usr/bin/env bash
# Runs tests/otlp/receiver.py in a venv holding opentelemetry-proto (from
# PyPI into $INFRAGRAPH_CACHE once; no network after that).
#
#   tests/otlp/receiver.sh OUT    # prints its port, then serves until killed
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
OTLP_PROTO_VERSION=1.45.2
VENV="$CACHE/otlp-receiver-opentelemetry-proto-$OTLP_PROTO_VERSION"
source "$HERE/../../scripts/venv.sh"
ensure_venv "$VENV" "opentelemetry-proto==$OTLP_PROTO_VERSION"
exec "$VENV/bin/python" "$HERE/receiver.py" "$@"
