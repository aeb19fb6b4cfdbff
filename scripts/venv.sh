# Sourced by the scripts that need Python packages from PyPI.
#
# ensure_venv DIR PACKAGE==VERSION...: a venv at DIR holding the packages,
# made once and reused after (DIR names the versions, so a new pin makes a
# new venv); after the first run it needs no network. Tests run in
# parallel, so two may ask for the same venv at once on a fresh cache: a
# lock beside DIR lets one build it while the other waits, then reuses it.
ensure_venv() {
  local dir="$1"; shift
  [ -f "$dir/.complete" ] && return 0
  mkdir -p "$(dirname "$dir")"
  (
    flock 9
    [ -f "$dir/.complete" ] && exit 0
    echo "[venv] installing $* into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q "$@"
    touch "$dir/.complete"
  ) 9>"$dir.lock"
}
