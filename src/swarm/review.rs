//! One review round: a reviewer agent (the first of the configured fallback chain that
//! answers) reads the change as `git diff <merge-base> <tip>`, the tasks it claims to solve
//! and, from round 2, only the previous round's findings, and answers with a verdict line.
//! Whatever the reviewer touches in the worktree is discarded afterwards. A reviewer's turn
//! its provider cuts short (a usage limit, a passing error) is waited out and its session
//! resumed, as a worker's own turns are (`worker::pause`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::worker::pause::{CycleWaits, OneShotEnd, Waiter, one_shot};
use super::workspace::Workspace;
use crate::agent::prompt::{self, Bundled, PromptError};
use crate::agent::{self, Turn, TurnMode, TurnOutput};
use crate::config::ReviewConfig;
use crate::git::{GitError, ObjectId, cli};
use crate::store::Task;
use crate::store::record::ReviewRound;

/// The longest diff put into a reviewer's prompt; the command to see it all is given too.
const MAX_DIFF: usize = 60_000;

/// Why a review round has no verdict.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReviewError {
    /// The reviewer's prompt file could not be read; no reviewer was asked.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// The change could not be put into the prompt.
    #[error("diffing {base}..{tip} for the review: {}", source.detail())]
    Diff {
        base: ObjectId,
        tip: ObjectId,
        #[source]
        source: Box<GitError>,
    },
    /// Every reviewer of the chain failed; `last` is what the last one did.
    #[error("no reviewer answered ({last})")]
    NoAnswer { last: String },
    /// The swarm stopped while a reviewer waited for its provider.
    #[error("stopped while the reviewer waited for its provider")]
    Stopped,
}

/// What a review round needs to know.
pub(crate) struct Request<'a> {
    pub repo: &'a crate::git::Repo,
    pub review: &'a ReviewConfig,
    pub ws: &'a Workspace,
    pub round: u32,
    /// The merge base of the branch with the target: the change is `base..tip`.
    pub base: ObjectId,
    pub tip: ObjectId,
    pub target: &'a str,
    pub tasks: &'a [Task],
    pub previous: Option<&'a ReviewRound>,
    pub env: &'a [(String, String)],
    /// Used when the reviewer runs the same CLI as the worker.
    pub worker_args: &'a [String],
    pub worker_harness: &'a agent::Harness,
    pub timeout: Duration,
    pub transcript: &'a Path,
    pub transcript_max: u64,
    pub kill: &'a std::sync::atomic::AtomicBool,
    /// Waits out the reviewers' usage limits and provider errors.
    pub waiter: &'a Waiter<'a>,
}

/// Runs the round. `Err` when no reviewer of the chain answered at all. Every turn taken is
/// pushed to `turns`, answered or not, and every wait for a provider to `waits`.
pub(crate) fn run(
    req: &Request<'_>,
    turns: &mut Vec<TurnOutput>,
    waits: &mut CycleWaits,
) -> Result<ReviewRound, ReviewError> {
    let text = review_prompt(req)?;
    let mut env = req.env.to_vec();
    env.extend(req.review.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.push((crate::agent_env::ROLE.into(), "reviewer".into()));
    env.push((crate::agent_env::REVIEW_ROUND.into(), req.round.to_string()));
    let mut last_error = String::from("no reviewer configured");
    for model in &req.review.models {
        let args: &[String] = if &model.harness == req.worker_harness {
            req.worker_args
        } else {
            &[]
        };
        let turn = Turn {
            spec: model,
            cwd: &req.ws.path,
            prompt: &text,
            resume: None,
            mode: TurnMode::OneShot,
            extra_args: args,
            env: &env,
            timeout: req.timeout,
            transcript: req.transcript,
            transcript_max: req.transcript_max,
            kill: req.kill,
        };
        // Each reviewer gets its own back-off and retries; its pauses are the cycle's.
        let mut mine = CycleWaits::default();
        let label = format!("review round {}", req.round);
        let result = one_shot(req.waiter, &turn, &label, &mut mine, turns);
        waits.absorb(mine);
        // Reviewers must not change the work under review; whatever they checked out, only
        // the worker branch is put back.
        let _ = req.ws.discard_to(req.repo, req.tip);
        match result {
            Err(e) => last_error = format!("{model}: {e}"),
            Ok(OneShotEnd::Stopped) => return Err(ReviewError::Stopped),
            Ok(OneShotEnd::GaveUp(e)) => last_error = format!("{model}: {e}"),
            Ok(OneShotEnd::Ended) => {
                let out = turns.last().expect("an ended review took a turn");
                if !out.succeeded() {
                    last_error = format!("{model}: {}", out.error_snippet());
                    continue;
                }
                let verdict = agent::parse_verdict(&out.final_text);
                return Ok(ReviewRound {
                    round: req.round,
                    reviewer: model.to_string(),
                    verdict: if verdict.approved() {
                        "approved"
                    } else {
                        "needs-changes"
                    }
                    .into(),
                    findings: verdict.findings.trim().to_string(),
                    parsed: verdict.parsed,
                });
            }
        }
    }
    Err(ReviewError::NoAnswer { last: last_error })
}

fn review_prompt(req: &Request<'_>) -> Result<String, ReviewError> {
    let mut text = String::new();
    text.push_str(&prompt::role(&req.review.prompt, Bundled::Reviewer)?);
    text.push_str("\n\n## Tasks\n\n");
    if req.tasks.is_empty() {
        text.push_str("The worker holds no task; judge the change on its own merits.\n");
    }
    for t in req.tasks {
        let _ = writeln!(text, "- `{}`: {}", t.id, t.summary);
        for line in t.description.lines() {
            let _ = writeln!(text, "  {line}");
        }
        for a in &t.acceptance {
            let _ = writeln!(text, "  acceptance: {a}");
        }
    }
    let diff = cli::diff_text(&req.ws.path, req.base, req.tip, MAX_DIFF).map_err(|source| {
        ReviewError::Diff {
            base: req.base,
            tip: req.tip,
            source: Box::new(source),
        }
    })?;
    let _ = write!(
        text,
        "\n## The change\n\nBranch `{}` against its merge base with `{}` (see it all with `git diff {} {}`):\n\n```diff\n{}\n```\n",
        req.ws.short_branch(),
        req.target,
        req.base,
        req.tip,
        diff.trim_end()
    );
    if let Some(prev) = req.previous {
        let _ = write!(
            text,
            "\n## Previous review (round {})\n\nThe previous review asked for these changes:\n\n{}\n\n\
             Check that each one is resolved. Raise new issues only for problems the fixes introduced.\n",
            prev.round, prev.findings
        );
    }
    Ok(text)
}
