//! The engine core: rule plan, customer state, metrics, timelines and partitions, in plain Rust
//! (no PyO3 here); `crate::py_engine` is its Python surface.

pub mod audiences;
pub mod codec;
pub mod custom;
pub mod expr;
pub mod lanes;
pub mod metrics;
pub mod partition;
pub mod plan;
pub mod profile;
pub mod properties;
pub mod snapshot;
pub mod state;
pub mod timeline;
pub mod traits;
