//! One module a command (or a family of them).

pub mod bulk;
pub mod job;
pub mod results;
pub mod send;
