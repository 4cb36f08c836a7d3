//! The admin API (users, orgs, keys, gateways) and its command-line client.

pub mod api;
pub mod cli;
mod nodes;
pub mod sigv4;
