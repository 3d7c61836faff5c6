#!/usr/bin/env bash
# Installs what the real-fault lab needs beyond the test suite's own dependencies: the Debian
# exporters the lab scrapes. Prometheus, Alertmanager and PostgreSQL come from tests/install-system-deps.sh.
# Idempotent: installs only what is missing. The packages' own services are not used; the lab
# starts its own instances on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../../tests/install-system-deps.sh"

missing=()
for binary in prometheus-node-exporter prometheus-blackbox-exporter prometheus-postgres-exporter; do
  command -v "$binary" >/dev/null || missing+=("$binary")
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
