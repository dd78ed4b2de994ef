//! Code generated from `proto/` (Hubble's `flow`, `relay` and `observer`
//! packages) by `build.rs`.

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod flow {
    tonic::include_proto!("flow");
}

pub mod relay {
    tonic::include_proto!("relay");
}

pub mod observer {
    tonic::include_proto!("observer");
}
