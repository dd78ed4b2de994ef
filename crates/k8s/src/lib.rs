//! Kubernetes mode: the API server as another source of the same snapshot.
//!
//! Reflectors ([`reflectors`]) mirror every kind the model reads (in the
//! versions [`discovery`] finds served) into memory; the [`controller`]
//! builds a [`portico_model::Snapshot`] from them, runs the same pure
//! [`portico_translate::translate`] as standalone mode and publishes the IR
//! for the data plane. The elected leader ([`lease`]) additionally writes
//! statuses ([`status`]), provisions one LoadBalancer Service per Gateway
//! ([`gateway_service`]) and assigns load-balancer IPs ([`ipam`]).

#![forbid(unsafe_code)]

pub mod controller;
pub mod discovery;
pub mod error;
pub mod events;
pub mod gateway_service;
pub mod ipam;
pub mod kinds;
pub mod lease;
pub mod metrics;
pub mod reflectors;
pub mod status;

pub use error::{Error, Result};
