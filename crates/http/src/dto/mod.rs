//! Wire representations. Domain types never serialize straight to clients: each version of
//! the API has its own shapes here.

pub mod audit;
pub mod author;
pub mod book;
pub mod genre;
pub mod history;
pub mod import;
pub mod location;
pub mod page;
pub mod stock;
pub mod stocktake;
pub mod user;
pub mod webhook;
