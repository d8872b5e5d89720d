//! Budgets at run time: every worker charges what its turns used to the swarm's ledger after
//! each turn; a worker whose own `budget` is spent finishes its turn and stops, and when the
//! swarm's is spent the swarm stops as on one Ctrl-C. A harness that reports tokens but no
//! cost is counted by its tokens only, and the swarm says so once per worker.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{Event, Shared};
use crate::config::budget::{Budget, Spend};
use crate::store::record::Tokens;

/// What the swarm has spent, in all and per worker.
#[derive(Default)]
pub(crate) struct Ledger {
    total: Mutex<Spend>,
    warned: Mutex<BTreeSet<String>>,
}

impl Ledger {
    /// Adds `delta`, spent by `worker`; stops the swarm when its budget is spent.
    fn charge(&self, shared: &Shared, worker: &str, delta: &Spend, worker_budget: Option<Budget>) {
        let total = {
            let mut t = self.total.lock().unwrap_or_else(|e| e.into_inner());
            t.merge(delta);
            *t
        };
        let blind = delta.cost_missing
            && (shared.config.budget.is_some_and(|b| b.micro_usd.is_some())
                || worker_budget.is_some_and(|b| b.micro_usd.is_some()));
        if blind
            && self
                .warned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(worker.to_string())
        {
            shared.emit(Event::Warning(format!(
                "[{worker}] its agent reports tokens but no cost: the dollar budget counts \
                 nothing for it, only the token budget (if any) limits it"
            )));
        }
        if let Some(why) = shared.config.budget.and_then(|b| b.spent(&total))
            && shared.control.spend_up(format!("swarm {why}"))
        {
            shared.emit(Event::Warning(format!(
                "swarm {why}: stopping as on Ctrl-C (the turns in flight finish, what is \
                 ready lands, the rest goes back to pending)"
            )));
            shared.emit(Event::BudgetSpent {
                worker: None,
                why: format!("swarm {why}"),
            });
        }
    }

    /// What the swarm has spent so far.
    pub fn total(&self) -> Spend {
        *self.total.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One worker's account: what its earlier cycles spent, and what of the current cycle is
/// charged to the ledger already.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Account {
    before: Spend,
    charged: Spend,
}

impl Account {
    /// Charges the current cycle's usage so far (`tokens`, cumulative) and returns why the
    /// worker's own budget is spent, if it is.
    pub fn update(
        &mut self,
        shared: &Shared,
        worker: &str,
        budget: Option<Budget>,
        tokens: &Tokens,
    ) -> Option<String> {
        let mut cycle = Spend::default();
        cycle.add(tokens.input, tokens.output, tokens.cost_usd);
        let delta = Spend {
            tokens: cycle.tokens.saturating_sub(self.charged.tokens),
            usd: (cycle.usd - self.charged.usd).max(0.0),
            cost_known: cycle.cost_known,
            cost_missing: cycle.cost_missing,
        };
        if delta.tokens > 0 || delta.usd > 0.0 {
            shared.ledger.charge(shared, worker, &delta, budget);
        }
        self.charged = cycle;
        let mine = self.spent();
        budget.and_then(|b| b.spent(&mine))
    }

    /// The cycle is over: its usage counts as earlier cycles' from now on.
    pub fn close_cycle(&mut self) {
        self.before.merge(&self.charged);
        self.charged = Spend::default();
    }

    /// All the worker has spent.
    pub fn spent(&self) -> Spend {
        let mut s = self.before;
        s.merge(&self.charged);
        s
    }
}
