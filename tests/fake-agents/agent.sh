#!/bin/sh
# A scriptable fake agent for the swarm tests, run through the `exec:` harness.
# The prompt arrives on stdin; OOMPA_SWARM, OOMPA_WORKER, OOMPA_CYCLE, OOMPA_SESSION_ID and
# OOMPA_RESUME (set on resumed turns) come from git oompa. FAKE_MODE picks the behaviour:
#   polite    claim the first pending task with CLAIM(), do it on the next turn, signal merge
#   cli       claim with `git oompa task claim` and do it in the same turn
#   crash     exit 3
#   hang      sleep far past any turn timeout
#   silent    never signal
#   spam      print 50 MB, then say __DONE__
#   steal     CLAIM a task another worker holds, then __DONE__
#   nochange  claim, then signal merge without changing anything
#   readme    claim, then append a line to README.md
#   conflict  claim, then rewrite shared.txt with this worker's name (conflicts with others)
#   evil      print terminal control sequences (title, colour) on stderr and fail
# Before any mode: FAKE_CLAIM_FIRST=1 claims the first pending task with `git oompa task claim`,
# FAKE_COMMIT_FIRST=1 commits a file wip/<worker>.txt, FAKE_SLEEP=N sleeps N seconds.
# FAKE_LINGER=N makes `conflict` wait N seconds between committing and signalling merge.
# FAKE_RESOLVE=1 answers a conflict-resolution prompt by keeping both sides of shared.txt;
# FAKE_RESOLVE=beyond also changes an unrelated file in the resolution.
# FAKE_RESOLVE=markers commits the conflicted file as it is, markers and all.
# FAKE_GATE_BREAK=1 also commits gate/break-<worker> with the work, FAKE_GATE_PAIR=1 commits
# gate/pair-<worker> (the tests' gates fail on any break file, or on two pair files). On a
# "# Gate failed" prompt, FAKE_GATE_FIX=1 removes them and signals merge again (=beyond also
# changes an unrelated file); without it the agent signals merge again unchanged.
# FAKE_WAIT_FOR=FILE makes every turn wait (up to 60 s) until FILE exists.
# FAKE_SNEAK=FILE (after FAKE_COMMIT_FIRST) tries to move main to its HEAD from its worktree, from
# the main checkout, and from its worktree with its environment cleared, appending `moved: …` or
# `refused: …` per try to FILE and what git said to FILE.err.
# FAKE_COST=D reports D dollars (and 1000 input, 100 output tokens) for every turn on stderr
# (`oompa-usage:`); FAKE_TOKENS_ONLY=1 reports the tokens without a cost.
# FAKE_CHILD=N (with `hang`) also starts a background `sleep N` child, as agent CLIs start
# helpers, so a test can see that no agent process outlives the swarm.
# FAKE_HANG=N is how long `hang` sleeps (default 1000). FAKE_PROMPT_LOG=FILE appends every
# prompt to FILE. FAKE_LEAVE_LOCK=1 leaves index.lock in the worktree after its commit.
# FAKE_WARM=1 notes in each task file whether build/cache (ignored) survived
# from an earlier cycle and whether .env was copied in, then touches build/cache.
# FAKE_LIMIT=DIR: the first turn (of any worker) to get there makes DIR and ends as a usage-limited
# agent does under the exec convention: exit 75 and `retry-after: FAKE_LIMIT_SECS` (default 1)
# on stderr (none with FAKE_LIMIT_SECS=none; after FAKE_CLAIM_FIRST, so a claim may be held); FAKE_LIMIT_TOUCH=FILE is created
# just before. FAKE_TRANSIENT=N with FAKE_COUNT=FILE: the first N turns (counted in FILE) fail
# as a passing provider error does (`HTTP 503 Service Unavailable` on stderr, exit 1).
# FAKE_ONCE=CMD runs the shell command CMD once per swarm (the first worker to get there), after
# doing the work of a held task and before signalling merge: a hostile step (moving main
# around the hooks, rewriting refs/notes/oompa). FAKE_ONCE_FLAG is the directory marking it done;
# FAKE_ONCE_CYCLE=N waits for cycle N or later.
set -u
prompt=$(cat)
if [ -n "${FAKE_PROMPT_LOG:-}" ]; then
  printf '=== %s cycle %s resume=%s session=%s\n%s\n' "$OOMPA_WORKER" "$OOMPA_CYCLE" \
    "${OOMPA_RESUME:-}" "${OOMPA_SESSION_ID:-}" "$prompt" >> "$FAKE_PROMPT_LOG"
fi
mode=${FAKE_MODE:-polite}
if [ -n "${FAKE_COST:-}" ]; then
  echo "oompa-usage: input=1000 output=100 cost=$FAKE_COST" >&2
elif [ -n "${FAKE_TOKENS_ONLY:-}" ]; then
  echo "oompa-usage: input=1000 output=100" >&2
fi
if [ -n "${FAKE_WAIT_FOR:-}" ]; then
  n=0
  while [ ! -e "$FAKE_WAIT_FOR" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
fi
log() { printf '%s\n' "$*"; }

# Tasks this worker holds, one id per line. `--json` prints one array, one task per line.
held() {
  git oompa task list --state current --json |
    grep "\"swarm\":\"$OOMPA_SWARM\"" | grep "\"worker\":\"$OOMPA_WORKER\"" |
    sed 's/.*"id":"\([^"]*\)".*/\1/'
}
pending() {
  git oompa task list --state pending --json | grep '"id"' | sed 's/.*"id":"\([^"]*\)".*/\1/'
}
# Does the work of every held task: one file per task, one commit.
work() {
  ids=$(held)
  [ -n "$ids" ] || return 1
  mkdir -p work
  if [ -n "${FAKE_GATE_BREAK:-}" ] || [ -n "${FAKE_GATE_PAIR:-}" ]; then
    mkdir -p gate
    [ -n "${FAKE_GATE_BREAK:-}" ] && echo "breaks the gate" > "gate/break-$OOMPA_WORKER"
    [ -n "${FAKE_GATE_PAIR:-}" ] && echo "half of a pair" > "gate/pair-$OOMPA_WORKER"
    git add gate
  fi
  for id in $ids; do
    printf 'done by %s\n' "$OOMPA_WORKER" > "work/$id.txt"
    if [ -n "${FAKE_WARM:-}" ]; then
      [ -f build/cache ] && echo "warm build cache" >> "work/$id.txt"
      [ -f .env ] && echo "env: $(cat .env)" >> "work/$id.txt"
      mkdir -p build && touch build/cache
    fi
  done
  git add work && git commit -q -m "Do $(echo $ids | tr '\n' ' ')" || return 1
  # FAKE_LEAVE_LOCK=1: leave index.lock behind, as a git killed mid-command does.
  [ -n "${FAKE_LEAVE_LOCK:-}" ] && : > "$(git rev-parse --git-dir)/index.lock"
  return 0
}

if [ -n "${FAKE_CLAIM_FIRST:-}" ] && [ -z "$(held)" ]; then
  for id in $(pending); do git oompa task claim "$id" >/dev/null 2>&1 && break; done
fi
if [ -n "${FAKE_LIMIT:-}" ] && mkdir "$FAKE_LIMIT" 2>/dev/null; then
  [ -n "${FAKE_LIMIT_TOUCH:-}" ] && : > "$FAKE_LIMIT_TOUCH"
  echo "Usage limit reached for this account." >&2
  [ "${FAKE_LIMIT_SECS:-1}" = none ] || echo "retry-after: ${FAKE_LIMIT_SECS:-1}" >&2
  exit 75
fi
if [ -n "${FAKE_TRANSIENT:-}" ]; then
  echo turn >> "$FAKE_COUNT"
  if [ "$(wc -l < "$FAKE_COUNT")" -le "$FAKE_TRANSIENT" ]; then
    echo "API error: HTTP 503 Service Unavailable" >&2; exit 1
  fi
fi
if [ -n "${FAKE_COMMIT_FIRST:-}" ]; then
  mkdir -p wip && printf '%s cycle %s\n' "$OOMPA_WORKER" "$OOMPA_CYCLE" > "wip/$OOMPA_WORKER.txt"
  git add wip && git commit -q -m "wip of $OOMPA_WORKER"
fi
if [ -n "${FAKE_SNEAK:-}" ]; then
  sneak() {
    what=$1; shift
    if "$@" >>"$FAKE_SNEAK.err" 2>&1; then echo "moved: $what"; else echo "refused: $what"; fi >>"$FAKE_SNEAK"
  }
  tip=$(git rev-parse HEAD)
  main_checkout=$(cd "$(git rev-parse --git-common-dir)/.." && pwd)
  sneak "from its worktree" git update-ref refs/heads/main "$tip"
  sneak "from the main checkout" git -C "$main_checkout" update-ref refs/heads/main "$tip"
  sneak "from its worktree, environment cleared" env -u OOMPA_WORKER -u OOMPA_SWARM \
    -u OOMPA_BRANCH -u OOMPA_TARGET -u GIT_CONFIG_COUNT git update-ref refs/heads/main "$tip"
fi
[ -n "${FAKE_SLEEP:-}" ] && sleep "$FAKE_SLEEP"
# FAKE_KILL_SWARM=N: in cycle N (after the claim and commit above) the swarm process dies by
# SIGKILL, as in a crash.
if [ -n "${FAKE_KILL_SWARM:-}" ] && [ "$OOMPA_CYCLE" = "$FAKE_KILL_SWARM" ]; then
  kill -9 "$OOMPA_SWARM_PID"; exit 0
fi

case "$mode" in
  crash) log "about to crash"; exit 3 ;;
  evil) printf 'evil \033]0;PWNED\007 \033[31m\n' >&2; exit 1 ;;
  hang)
    [ -n "${FAKE_CHILD:-}" ] && { sleep "$FAKE_CHILD" & }
    sleep "${FAKE_HANG:-1000}"; exit 0 ;;
  silent) log "still thinking about it"; exit 0 ;;
  spam) head -c 52428800 /dev/zero | tr '\0' 'x'; printf '\n__DONE__\n'; exit 0 ;;
esac

# A review-fix turn: note the review in every task file and signal merge again.
case "$prompt" in
  *"## Review: changes needed"*)
    for f in work/*.txt; do echo "reviewed and fixed" >> "$f"; done
    git commit -q -am "Address the review" && { log COMPLETE_AND_READY_FOR_MERGE; exit 0; } ;;
esac

# A gate failure: remove what breaks it (or try again unchanged).
case "$prompt" in
  *"# Gate failed"*)
    if [ -n "${FAKE_GATE_FIX:-}" ]; then
      git rm -q --ignore-unmatch "gate/break-$OOMPA_WORKER" "gate/pair-$OOMPA_WORKER"
      [ "$FAKE_GATE_FIX" = beyond ] && echo "an unrelated change" > "extra-$OOMPA_WORKER.txt" &&
        git add "extra-$OOMPA_WORKER.txt"
      git commit -q -m "Fix the gate"
      log "Fixed what the gate reported."
    else
      log "Trying again as it is."
    fi
    log COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
esac

# A resolver turn: keep both sides of every conflict in shared.txt and conclude the merge.
case "$prompt" in
  *"# Merge conflict"*|*"# Conflict markers left"*)
    if [ "${FAKE_RESOLVE:-}" = markers ]; then
      git add shared.txt && git commit -q --no-edit 2>/dev/null || git commit -q -am "Resolve as is"
      log "Committed as it is."; log COMPLETE_AND_READY_FOR_MERGE; exit 0
    fi
    if [ -n "${FAKE_RESOLVE:-}" ]; then
      sed -e '/^<<<<<<< /d' -e '/^=======$/d' -e '/^||||||| /,/^=======$/d' -e '/^>>>>>>> /d' shared.txt > shared.tmp
      mv shared.tmp shared.txt
      [ "$FAKE_RESOLVE" = beyond ] && echo "an unrelated change" > extra.txt && git add extra.txt
      git add shared.txt && git commit -q --no-edit
      log "Kept both sides."; log COMPLETE_AND_READY_FOR_MERGE; exit 0
    fi ;;
esac

if [ -n "$(held)" ]; then
  case "$mode" in
    nochange) log "nothing to change"; log COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
    readme)
      printf 'line from %s\n' "$OOMPA_WORKER" >> README.md
      git commit -q -am "README line from $OOMPA_WORKER"
      log COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
    conflict)
      printf 'line written by %s\n' "$OOMPA_WORKER" > shared.txt
      git add shared.txt && git commit -q -m "shared.txt from $OOMPA_WORKER"
      [ -n "${FAKE_LINGER:-}" ] && sleep "$FAKE_LINGER"
      log COMPLETE_AND_READY_FOR_MERGE; exit 0 ;;
  esac
  if work; then
    if [ -n "${FAKE_ONCE:-}" ] && [ "$OOMPA_CYCLE" -ge "${FAKE_ONCE_CYCLE:-0}" ] &&
       mkdir "$FAKE_ONCE_FLAG" 2>/dev/null; then
      sh -c "$FAKE_ONCE"
    fi
    log "Did the work."; log COMPLETE_AND_READY_FOR_MERGE; exit 0
  fi
  log "could not do the work"; exit 1
fi

case "$mode" in
  steal)
    other=$(git oompa task list --state current --json | grep '"id"' | grep -v "\"worker\":\"$OOMPA_WORKER\"" |
            sed 's/.*"id":"\([^"]*\)".*/\1/' | head -n 1)
    if [ -n "$other" ] && [ -z "${OOMPA_RESUME:-}" ]; then log "CLAIM($other)"; else log "__DONE__"; fi
    exit 0 ;;
  cli)
    for id in $(pending); do
      if git oompa task claim "$id" >/dev/null 2>&1; then
        work && { log COMPLETE_AND_READY_FOR_MERGE; exit 0; }
      fi
    done
    log "__DONE__"; exit 0 ;;
esac

next=$(pending | head -n 1)
if [ -z "$next" ]; then log "Nothing left to do."; log "__DONE__"; exit 0; fi
log "I will take $next."
log "CLAIM($next)"
