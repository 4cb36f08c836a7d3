//! The admin API (users, orgs, keys) and its command-line client.

pub mod api;
pub mod cli;
pub mod sigv4;
