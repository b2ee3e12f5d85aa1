//! Tests across the engine's layers: what the domains' commands do together in one commit
//! group, and what opening a store written by an older build does.

mod group;
mod migration;
mod sealing;
