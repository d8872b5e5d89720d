#!/bin/sh
# A fake planner: brings the queue to FAKE_PLAN_TOTAL tasks in all (p0, p1, ...), one
# `git oompa task add` each, stopping at the first refusal (the queue is full). Refusals are
# appended to FAKE_PLAN_ERR.
cat >/dev/null
total=${FAKE_PLAN_TOTAL:-5}
i=$(git oompa task list --all --json | grep -c '"id"')
while [ "$i" -lt "$total" ]; do
  git oompa task add --id "p$i" "Planned task $i" --acceptance "work/p$i.txt exists" \
    >/dev/null 2>>"${FAKE_PLAN_ERR:-/dev/null}" || break
  i=$((i + 1))
done
echo "Planned."
echo "__DONE__"
