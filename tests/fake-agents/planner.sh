#!/bin/sh
# A fake planner: brings the queue to FAKE_PLAN_TOTAL tasks in all (p0, p1, ...), one
# `git oompa task add` each, stopping at the first refusal (the queue is full). Refusals are
# appended to FAKE_PLAN_ERR. FAKE_PLAN_LIMIT=DIR: the first planning turn to get there makes DIR
# and ends as a usage-limited agent does under the exec convention (exit 75, `retry-after:
# FAKE_PLAN_LIMIT_SECS`, default 1, on stderr) before adding anything. FAKE_PLAN_LOG=FILE appends
# the resume flag, session id and prompt of every turn to FILE.
prompt=$(cat)
[ -n "${FAKE_PLAN_LOG:-}" ] && printf '=== resume=%s session=%s\n%s\n' "${OOMPA_RESUME:-}" \
  "${OOMPA_SESSION_ID:-}" "$prompt" >> "$FAKE_PLAN_LOG"
if [ -n "${FAKE_PLAN_LIMIT:-}" ] && mkdir "$FAKE_PLAN_LIMIT" 2>/dev/null; then
  echo "Usage limit reached for the planner's account." >&2
  echo "retry-after: ${FAKE_PLAN_LIMIT_SECS:-1}" >&2
  exit 75
fi
total=${FAKE_PLAN_TOTAL:-5}
i=$(git oompa task list --all --json | grep -c '"id"')
while [ "$i" -lt "$total" ]; do
  git oompa task add --id "p$i" "Planned task $i" --acceptance "work/p$i.txt exists" \
    >/dev/null 2>>"${FAKE_PLAN_ERR:-/dev/null}" || break
  i=$((i + 1))
done
echo "Planned."
echo "__DONE__"
