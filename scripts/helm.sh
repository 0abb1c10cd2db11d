#!/usr/bin/env bash
# Builds the helm binary used to lint and render charts/logpipe from the Go
# module proxy (helm.sh/helm/v3) into .cache/bin/helm. Idempotent: does
# nothing when .cache/bin/helm already reports the wanted version.
#
#   scripts/helm.sh             build (or keep) .cache/bin/helm
#   LOGPIPE_HELM_VERSION=v3.x   pick another helm release (default below)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${LOGPIPE_HELM_VERSION:-v3.22.0}
BIN=$REPO/.cache/bin
HELM=$BIN/helm

if [ -x "$HELM" ] && "$HELM" version --template '{{.Version}}' 2>/dev/null | grep -qx "$VERSION"; then
  exit 0
fi

mkdir -p "$BIN"
echo "building helm $VERSION into $HELM (one-off, a few minutes)" >&2
# GOWORK=off: the workspace of this repo must not take part in building helm.
# The version is stamped the way helm's own Makefile does it, so `helm version`
# tells which release this binary is.
GOWORK=off GOBIN=$BIN CGO_ENABLED=0 nice -n 10 go install \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$VERSION" \
  "helm.sh/helm/v3/cmd/helm@$VERSION"
"$HELM" version --template '{{.Version}}' >/dev/null
