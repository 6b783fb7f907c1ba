//! Black-box tests: the real binary, once per store, driven over HTTP as a client would.

mod helpers;

mod access;
mod auth;
mod behind_nginx;
mod books;
mod errors;
mod external;
mod fuzzed;
mod gateway;
mod operations;
mod ratelimits;
mod references;
mod search;
mod stock;
mod tls;
