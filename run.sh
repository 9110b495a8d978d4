#!/usr/bin/env bash
# Install everything the app needs (Debian packages, .venv) and start it: ./run.sh [app.py flags]
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
# shellcheck disable=SC2046
install_apt $(app_apt_packages)
install_venv
cd "$ROOT"
exec "$VENV/bin/python" app.py "$@"
