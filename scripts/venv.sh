# Sourced by the scripts that need Python packages from PyPI.
#
# ensure_venv DIR PACKAGE==VERSION...: a venv at DIR holding the packages,
# made once and reused after (DIR names the versions, so a new pin makes a
# new venv); after the first run it needs no network.
ensure_venv() {
  local dir="$1"; shift
  [ -f "$dir/.complete" ] && return 0
  echo "[venv] installing $* into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q "$@"
  touch "$dir/.complete"
}
