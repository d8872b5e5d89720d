#!/bin/sh
# A fake reviewer for the swarm tests. FAKE_REVIEW picks the answer:
#   approve  VERDICT: APPROVED
#   reject   VERDICT: NEEDS_CHANGES with one numbered finding
#   once     reject in round 1, approve after (OOMPA_REVIEW_ROUND says which round it is)
#   fail     exit 1 without answering
#   babble   an answer without a verdict line
# FAKE_REVIEW_LOG=FILE appends every prompt to FILE.
# FAKE_REVIEW_WAIT=FILE prints `reviewing round N` and waits (up to 5 min) until FILE exists.
prompt=$(cat)
if [ -n "${FAKE_REVIEW_WAIT:-}" ]; then
  echo "reviewing round $OOMPA_REVIEW_ROUND"
  n=0; while [ ! -e "$FAKE_REVIEW_WAIT" ] && [ $n -lt 6000 ]; do sleep 0.05; n=$((n + 1)); done
fi
[ -n "${FAKE_REVIEW_LOG:-}" ] && printf '=== round %s\n%s\n' "$OOMPA_REVIEW_ROUND" "$prompt" >> "$FAKE_REVIEW_LOG"
reject() { echo "VERDICT: NEEDS_CHANGES"; echo "1. work/: each task file must say it was reviewed."; }
case "${FAKE_REVIEW:-approve}" in
  approve) echo "Looks right."; echo "VERDICT: APPROVED" ;;
  reject) reject ;;
  once) if [ "$OOMPA_REVIEW_ROUND" = 1 ]; then reject; else echo "VERDICT: APPROVED"; fi ;;
  fail) echo "reviewer crashed" >&2; exit 1 ;;
  babble) echo "I think it is mostly fine, I am not sure." ;;
esac
