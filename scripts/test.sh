#!/usr/bin/env bash
# scripts/test.sh: runs every Cloudbridge test on this machine (fresh Debian 12 with a Rust
# toolchain): starts PostgreSQL and Redis (installing them when missing), installs the
# official Kloudless Python SDK (kloudless==2.0.1) into .venv for the compatibility test,
# builds the binaries the multi-process tests spawn, then runs the whole suite.
# Each test makes its own database, Redis key prefix and data folder.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

ensure_tools
ensure_postgres
ensure_redis

# The SDK compatibility test drives the real Python SDK; the S3 tests run a moto server;
# the contract test runs schemathesis against the OpenAPI document; the CalDAV tests run
# Radicale (a real CalDAV server).
if ! .venv/bin/python -c 'import kloudless, moto, flask_cors, schemathesis, aiosmtpd, radicale' 2>/dev/null; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet 'kloudless==2.0.1' 'moto[s3,server]==5.*' flask flask-cors \
    'schemathesis==4.32.5' 'aiosmtpd==1.4.6' 'radicale==3.9.0'
fi
# WebDAV tests run `rclone serve webdav` (a strict WebDAV server).
command -v rclone >/dev/null 2>&1 || apt_install rclone
# Google Drive and OneDrive tests run npm emulators (google-drive-mock,
# microsoft-onedrive-mock); the browser tests drive Debian's Chromium with playwright-core;
# all pinned by testenv/node/package-lock.json.
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
[ -x /usr/bin/chromium ] || apt_install chromium
if [ ! -d testenv/node/node_modules/google-drive-mock ] \
  || [ ! -d testenv/node/node_modules/microsoft-onedrive-mock ] \
  || [ ! -d testenv/node/node_modules/playwright-core ] \
  || [ ! -d testenv/node/node_modules/axe-core ]; then
  (cd testenv/node && npm ci --no-audit --no-fund)
fi
# The widgets' bundles the API serves (and the browser tests drive), pinned by
# widgets/package-lock.json.
ensure_widgets
# SFTP tests run OpenSSH's sshd as root, logging in as a local test user they create.
ensure_sshd
export KLOUDLESS_SDK_PYTHON="$PWD/.venv/bin/python"

cargo build --workspace --bins --tests
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
