//! UDP echo mode: every datagram is answered with a JSON object holding the
//! payload and the backend identity.

use std::sync::Arc;

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::{EchoConfig, Error, Identity, ServerHandle};

/// Largest datagram read (and thus echoed).
const MAX_DATAGRAM: usize = 65_535;

#[derive(Debug, Serialize)]
struct UdpAnswer<'a> {
    request: &'a str,
    namespace: &'a str,
    ingress: &'a str,
    service: &'a str,
    pod: &'a str,
}

/// Builds the answer to one datagram (`request` is the payload, decoded as
/// UTF-8 lossily).
pub fn udp_answer(identity: &Identity, payload: &[u8]) -> Vec<u8> {
    let request = String::from_utf8_lossy(payload);
    serde_json::to_vec(&UdpAnswer {
        request: &request,
        namespace: &identity.namespace,
        ingress: &identity.ingress,
        service: &identity.service,
        pod: &identity.pod,
    })
    .unwrap_or_else(|_| b"{}".to_vec())
}

/// Serves the UDP echo contract on `socket`: each datagram is answered to
/// its sender with `{"request": <payload>, "namespace", "ingress",
/// "service", "pod"}`.
pub async fn serve_udp(
    socket: UdpSocket,
    config: EchoConfig,
    shutdown: CancellationToken,
) -> Result<ServerHandle, Error> {
    let local_addr = socket.local_addr().map_err(Error::LocalAddr)?;
    let identity = config.identity.resolved_for_port(local_addr.port());
    let token = shutdown.child_token();
    tracing::info!(addr = %local_addr, pod = %identity.pod, "echo udp server listening");
    let task = tokio::spawn(run(Arc::new(socket), identity.clone(), token.clone()));
    Ok(ServerHandle::new(local_addr, identity, token, task))
}

async fn run(socket: Arc<UdpSocket>, identity: Identity, token: CancellationToken) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = token.cancelled() => return,
        };
        match received {
            Ok((n, peer)) => {
                let answer = udp_answer(&identity, &buf[..n]);
                if let Err(error) = socket.send_to(&answer, peer).await {
                    tracing::debug!(%error, %peer, "udp echo send failed");
                }
            }
            // ICMP port-unreachable from an earlier reply surfaces here on
            // Linux; it concerns one peer, not the server.
            Err(error) => tracing::debug!(%error, "udp echo receive failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_shape() {
        let id = Identity::new("ns", "udp-svc").with_pod("udp-svc-a-b");
        let v: serde_json::Value =
            serde_json::from_slice(&udp_answer(&id, b"hello")).expect("json");
        assert_eq!(v["request"], "hello");
        assert_eq!(v["service"], "udp-svc");
        assert_eq!(v["pod"], "udp-svc-a-b");
        assert_eq!(v["namespace"], "ns");
        assert_eq!(v["ingress"], "");
    }
}
