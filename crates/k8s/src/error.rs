//! The crate's one error type.

/// Errors of the Kubernetes layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered with an error or could not be reached.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object from the API server did not match the expected shape.
    #[error("{kind} {name}: {source}")]
    Decode {
        kind: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// Client configuration (kubeconfig / in-cluster) could not be loaded.
    #[error("kubernetes client configuration: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
