#!/usr/bin/env bash
# Installs the four agent CLIs that the real-CLI tests (tests/test_real_clis.rs,
# src/agent/real_cli_tests.rs) drive against the project's scripted model (tests/mockllm):
# Claude Code, Codex CLI, opencode and Gemini CLI, from the npm registry only, into $AGENTCLIS
# (default ~/.cache/agentclis; ~25 s and ~1.1 GB the first time). Idempotent: npm runs only
# when one of the binaries is missing. Then prints the versions.
#
#   AGENTCLIS      install prefix (the binaries land in $AGENTCLIS/node_modules/.bin)
#
# The tests find the CLIs through OOMPA_AGENTCLIS, $AGENTCLIS/node_modules/.bin,
# ~/.cache/agentclis/node_modules/.bin or PATH, in that order.
set -euo pipefail

AGENTCLIS="${AGENTCLIS:-$HOME/.cache/agentclis}"
BIN="$AGENTCLIS/node_modules/.bin"
CLIS=(claude codex opencode gemini)

missing=()
for cli in "${CLIS[@]}"; do
  [[ -x "$BIN/$cli" ]] || missing+=("$cli")
done
if ((${#missing[@]})); then
  command -v npm >/dev/null || { echo "error: npm is needed to install the agent CLIs" >&2; exit 1; }
  echo "installing the agent CLIs into $AGENTCLIS (missing: ${missing[*]})"
  mkdir -p "$AGENTCLIS"
  npm install --prefix "$AGENTCLIS" --no-audit --no-fund \
    @anthropic-ai/claude-code @openai/codex opencode-ai @google/gemini-cli
else
  echo "agent CLIs already installed in $AGENTCLIS"
fi

# --version in a scratch HOME, so nothing is written into the real one.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for cli in "${CLIS[@]}"; do
  if [[ ! -x "$BIN/$cli" ]]; then
    echo "error: $BIN/$cli is still missing after npm install" >&2
    exit 1
  fi
  version="$(HOME="$scratch" TMPDIR="$scratch" DISABLE_AUTOUPDATER=1 \
    "$BIN/$cli" --version </dev/null 2>/dev/null | head -n 1)" || true
  printf '%-9s %s\n' "$cli" "${version:-(no version printed)}"
done
echo "OOMPA_AGENTCLIS=$BIN"
