//! Landing gates (placeholder doc, written in full below).

pub(crate) mod train;
