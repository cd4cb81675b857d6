//! Shared by the integration tests (`mod common;` in each). Each test binary uses only part of
//! it, so what one of them leaves unused is not dead code.
#![allow(dead_code)]

pub mod peer;
