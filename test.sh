#!/usr/bin/env bash
# Install everything the tests need and run them all (fast and slow): ./test.sh [pytest args]
# Database tests run on SQLite and on PostgreSQL at TEST_POSTGRES_URL
# (default postgresql+psycopg://postgres@127.0.0.1:5432/test); without a server they are skipped, saying so.
set -euo pipefail
source "$(dirname "$0")/scripts/bootstrap.sh"
# shellcheck disable=SC2046
install_apt $(app_apt_packages) chromium
install_venv
cd "$ROOT"
"$VENV/bin/ruff" check --quiet .
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  log "pytest collected no tests (exit 5): nothing matched the arguments given"
  exit 0
fi
exit "$status"
