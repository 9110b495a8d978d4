# Shared set-up for run.sh and test.sh: Debian packages, then a .venv with requirements.txt.
# Sourced, not run. Re-running is cheap: installed packages and an unchanged requirements.txt are skipped.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# install_apt PACKAGE...: install the Debian packages that are missing (root, or through sudo).
install_apt() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "Not a Debian/Ubuntu system: install these yourself if features need them: ${missing[*]}"
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      log "Need root to install: ${missing[*]} (skipping)"; return 0
    fi
  fi
  log "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# install_venv: create .venv and install requirements.txt when it changed since the last install.
install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "Creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "Installing Python packages (requirements.txt)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt"
    echo "$want" > "$stamp"
  fi
}

# apt packages the app needs (packages.txt is also what Hugging Face Spaces installs).
app_apt_packages() { grep -v '^\s*#' "$ROOT/packages.txt" | grep -v '^\s*$'; }
