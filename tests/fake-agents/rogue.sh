#!/bin/sh
# Misbehaving agents for tests/test_agents.rs, run through the `exec:` harness. The prompt
# arrives on stdin. ROGUE picks what the agent does wrong in cycle ROGUE_CYCLE (default 1);
# in other cycles it behaves: it claims the first pending task with `git oompa task claim`,
# writes work/<id>.txt, commits and signals merge (or says __DONE__ when nothing is pending).
#   astray    commits its work on a new branch astray-<worker> and signals merge from there
#   detach    commits on its branch, detaches HEAD, commits again, deletes its branch, and
#             signals merge
#   rewind    commits twice, resets its branch back to where the cycle started, says __DONE__
#   rebase    commits, stops an interactive rebase at that commit, edits a file, says __DONE__
#   rmtree    commits, removes its whole worktree, says __DONE__
#   escape    starts a process in a new session (setsid) that keeps writing escaped.txt and
#             escaped/<n> in the worktree, and one in its own process group that writes
#             group.txt, then works normally; both have ROGUE_MARKER in their command line
#   config    sets user.name in the repository's config (shared with the person's checkout),
#             then works normally
#   lock      commits, leaves a file uncommitted and index.lock behind (as a git command
#             killed mid-write does), says __DONE__
#   talk      works, then prints the merge signal with more text after it
# As a reviewer (OOMPA_ROLE=reviewer), it checks out a new branch review-<worker>, commits a
# file there, and approves (leaving HEAD on that branch).
# Told its work was not sent because HEAD is off its branch: with ROGUE_OBEY=1 it moves its
# branch to HEAD (`git checkout -B`), and either way signals merge again. Told its signal did
# not count: signals merge alone on the last line. FAKE_PROMPT_LOG=FILE appends every prompt.
set -u
prompt=$(cat)
if [ -n "${FAKE_PROMPT_LOG:-}" ]; then
  printf '=== %s cycle %s\n%s\n' "$OOMPA_WORKER" "$OOMPA_CYCLE" "$prompt" >> "$FAKE_PROMPT_LOG"
fi
branch=${OOMPA_BRANCH#refs/heads/}

if [ "${OOMPA_ROLE:-}" = reviewer ]; then
  git checkout -q -b "review-$OOMPA_WORKER"
  echo "a reviewer's edit" > reviewed.txt
  git add reviewed.txt && git commit -q -m "A reviewer's commit"
  echo "Looks right."; echo "VERDICT: APPROVED"; exit 0
fi

held() {
  git oompa task list --state current --json |
    grep "\"swarm\":\"$OOMPA_SWARM\"" | grep "\"worker\":\"$OOMPA_WORKER\"" |
    sed 's/.*"id":"\([^"]*\)".*/\1/'
}
claim() {
  for id in $(git oompa task list --state pending --json | sed 's/.*"id":"\([^"]*\)".*/\1/'); do
    git oompa task claim "$id" >/dev/null 2>&1 && return 0
  done
  return 1
}
work() {
  mkdir -p work
  for id in $(held); do printf 'done by %s\n' "$OOMPA_WORKER" > "work/$id.txt"; done
  git add work && git commit -q -m "Do $(held | tr '\n' ' ')"
}

case "$prompt" in
  *"Your work was not sent for review"*)
    [ -n "${ROGUE_OBEY:-}" ] && git checkout -q -B "$branch"
    echo "Back on my branch."; echo COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
  *"so it did not count"*)
    echo "Signalling alone on the last line now."; echo COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
esac

mode=polite
[ "$OOMPA_CYCLE" = "${ROGUE_CYCLE:-1}" ] && mode=${ROGUE:-polite}
if [ -z "$(held)" ]; then
  claim || { echo "Nothing left to do."; echo __DONE__; exit 0; }
fi

case "$mode" in
  polite) work; echo COMPLETE_AND_READY_FOR_MERGE ;;
  astray)
    git checkout -q -b "astray-$OOMPA_WORKER"
    work; echo "Committed on astray-$OOMPA_WORKER."; echo COMPLETE_AND_READY_FOR_MERGE ;;
  detach)
    work
    git checkout -q --detach
    echo "after detaching" > detached.txt
    git add detached.txt && git commit -q -m "Commit on a detached HEAD"
    git branch -q -D "$branch"
    echo COMPLETE_AND_READY_FOR_MERGE ;;
  rewind)
    start=$(git rev-parse HEAD)
    work
    echo "second" > second.txt && git add second.txt && git commit -q -m "Second commit"
    git reset -q --hard "$start"
    echo "Started over."; echo __DONE__ ;;
  rebase)
    work
    GIT_SEQUENCE_EDITOR='sed -i -e 1s/^pick/edit/' git rebase -q -i HEAD~1 >/dev/null 2>&1
    echo "edited while rebasing" > rebasing.txt
    echo "Left the rebase for later."; echo __DONE__ ;;
  rmtree)
    work
    here=$(pwd); cd / && rm -rf "$here"
    echo "Removed my worktree."; echo __DONE__ ;;
  escape)
    marker=${ROGUE_MARKER:-rogue-escape}
    setsid sh -c ": $marker; n=0; while :; do n=\$((n+1)); echo \$n > escaped.txt; mkdir -p escaped; : > escaped/\$n; sleep 0.05; done" \
      </dev/null >/dev/null 2>&1 &
    sh -c "set -m; sh -c ': $marker; while :; do date > group.txt; sleep 1; done' &" \
      </dev/null >/dev/null 2>&1
    work; echo COMPLETE_AND_READY_FOR_MERGE ;;
  config)
    git config user.name "Rogue Agent"
    work; echo COMPLETE_AND_READY_FOR_MERGE ;;
  lock)
    work
    echo "half written" > half.txt
    : > "$(git rev-parse --git-dir)/index.lock"
    echo "Killed mid-commit, as it were."; echo __DONE__ ;;
  talk)
    work
    echo COMPLETE_AND_READY_FOR_MERGE
    echo "I also noticed a typo elsewhere; I will leave it for now." ;;
esac
exit 0
