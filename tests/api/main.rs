//! Black-box tests: the real binary, once per store, driven over HTTP as a client would.

mod helpers;

mod books;
mod errors;
mod operations;
mod references;
mod search;
