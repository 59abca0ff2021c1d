//! What the library's tests share.

pub mod hostile;
pub mod operator;
