#!/bin/sh
# Runs one real-CLI swarm test (tests/test_real_clis.rs): starts the scripted mock model on
# 127.0.0.1, writes the swarm config with the mock's port, runs `git oompa swarm` in the
# current directory (the test repository), stops the mock and exits with the swarm's status.
#
#   run-swarm.sh DIR MOCKLLM [mockllm options...]
#
# DIR holds `oompa.toml.in` (the config, `@PORT@` where the port goes); the mock writes
# `port`, `requests.jsonl` (every request) and `mock.err` there. Every `X.in` file under DIR
# (the config, a CLI's own config file such as codex-home/config.toml.in) is written to `X`
# with the mock's port in place of `@PORT@`. The options after MOCKLLM go to the mock (its
# fallback script: `--cmd`, `--final`). The test runs this inside `unshare -n` (only loopback)
# where it can.
set -u
dir=$1 mock=$2
shift 2
python3 "$mock" --port-file "$dir/port" --log "$dir/requests.jsonl" "$@" 2>"$dir/mock.err" &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null; wait "$mock_pid" 2>/dev/null' EXIT
trap 'exit 130' INT TERM
i=0
while [ ! -s "$dir/port" ]; do
  i=$((i + 1))
  if [ "$i" -gt 200 ] || ! kill -0 "$mock_pid" 2>/dev/null; then
    echo "run-swarm.sh: the mock model did not start:" >&2
    cat "$dir/mock.err" >&2
    exit 97
  fi
  sleep 0.05
done
port=$(cat "$dir/port")
find "$dir" -type f -name '*.in' >"$dir/templates" || exit 98
while IFS= read -r template; do
  sed "s/@PORT@/$port/g" "$template" >"${template%.in}" || exit 98
done <"$dir/templates"
git oompa swarm "$dir/oompa.toml"
status=$?
exit "$status"
