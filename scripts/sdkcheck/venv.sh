#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv of the compatibility tests at
# .cache/sdk-venv with the pinned packages of requirements.txt, and prints the
# path of its python. Reinstalls only when requirements.txt changed.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$REPO/.cache/sdk-venv
REQ=$REPO/scripts/sdkcheck/requirements.txt
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" >&2
fi
if ! cmp -s "$REQ" "$VENV/.requirements.txt"; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" >&2
  cp "$REQ" "$VENV/.requirements.txt"
fi
echo "$VENV/bin/python"
