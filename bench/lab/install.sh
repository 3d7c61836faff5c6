#!/usr/bin/env bash
# Installs what the real-fault lab needs beyond the test suite's own dependencies: the Debian
# exporters the lab scrapes and PostgreSQL's server binaries (for the lab's own throwaway cluster).
# Idempotent: installs only what is missing. The packages' own services are not used; the lab
# starts its own instances on 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../tests/install-system-deps.sh" prometheus-node-exporter prometheus-blackbox-exporter \
  prometheus-postgres-exporter postgresql
