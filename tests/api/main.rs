//! Black-box tests: the real binary, once per store, driven over HTTP as a client would.

mod helpers;

mod access;
mod audit;
mod auth;
mod behind_nginx;
mod books;
mod boundary;
mod connections;
mod errors;
mod events;
mod external;
mod fuzzed;
mod gateway;
mod idempotency;
mod load;
mod nats_bus;
mod operations;
mod ratelimits;
mod receiver;
mod references;
mod roles;
mod search;
mod sessions;
mod signin;
mod stock;
mod store_files;
mod tls;
mod versions;
mod webhook_targets;
mod webhooks;
