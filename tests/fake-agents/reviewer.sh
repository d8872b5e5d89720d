#!/bin/sh
# A fake reviewer for the swarm tests. FAKE_REVIEW picks the answer:
#   approve  VERDICT: APPROVED
#   reject   VERDICT: NEEDS_CHANGES with one numbered finding
#   once     reject in round 1, approve after (OOMPA_REVIEW_ROUND says which round it is)
#   fail     exit 1 without answering
#   babble   an answer without a verdict line
# FAKE_REVIEW_LOG=FILE appends every prompt to FILE (after `=== round N`, the resume flag and
# session id of the turn).
# FAKE_REVIEW_LIMIT=DIR: the first review turn to get there makes DIR and ends as a usage-limited
# agent does under the exec convention: exit 75 and `retry-after: FAKE_REVIEW_LIMIT_SECS`
# (default 1) on stderr. FAKE_REVIEW_TRANSIENT=N with FAKE_REVIEW_COUNT=FILE: the first N review
# turns (counted in FILE) fail as a passing provider error does (HTTP 503 on stderr, exit 1).
# FAKE_REVIEW_WAIT=FILE prints `reviewing round N` and waits (up to 5 min) until FILE exists.
prompt=$(cat)
if [ -n "${FAKE_REVIEW_WAIT:-}" ]; then
  echo "reviewing round $OOMPA_REVIEW_ROUND"
  n=0; while [ ! -e "$FAKE_REVIEW_WAIT" ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n + 1)); done
fi
[ -n "${FAKE_REVIEW_LOG:-}" ] && printf '=== round %s resume=%s session=%s\n%s\n' "$OOMPA_REVIEW_ROUND" \
  "${OOMPA_RESUME:-}" "${OOMPA_SESSION_ID:-}" "$prompt" >> "$FAKE_REVIEW_LOG"
if [ -n "${FAKE_REVIEW_LIMIT:-}" ] && mkdir "$FAKE_REVIEW_LIMIT" 2>/dev/null; then
  echo "Usage limit reached for the reviewer's account." >&2
  echo "retry-after: ${FAKE_REVIEW_LIMIT_SECS:-1}" >&2
  exit 75
fi
if [ -n "${FAKE_REVIEW_TRANSIENT:-}" ]; then
  echo turn >> "$FAKE_REVIEW_COUNT"
  if [ "$(wc -l < "$FAKE_REVIEW_COUNT")" -le "$FAKE_REVIEW_TRANSIENT" ]; then
    echo "API error: HTTP 503 Service Unavailable" >&2; exit 1
  fi
fi
reject() { echo "VERDICT: NEEDS_CHANGES"; echo "1. work/: each task file must say it was reviewed."; }
case "${FAKE_REVIEW:-approve}" in
  approve) echo "Looks right."; echo "VERDICT: APPROVED" ;;
  reject) reject ;;
  once) if [ "$OOMPA_REVIEW_ROUND" = 1 ]; then reject; else echo "VERDICT: APPROVED"; fi ;;
  fail) echo "reviewer crashed" >&2; exit 1 ;;
  babble) echo "I think it is mostly fine, I am not sure." ;;
esac
