//! The upstream WebSocket check: dial `ws://GATEWAY/ws`, send a text frame
//! and a binary frame, and get each echoed back unchanged.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

use crate::env::Env;
use crate::error::Failure;

const TEXT: &str = "Websocket Support!";
const BINARY: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];

/// One dial-and-echo exchange.
pub async fn exchange(gw_addr: &str) -> Result<(), String> {
    let url = format!("ws://{gw_addr}/ws");
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| "dial timed out".to_string())?
    .map_err(|e| format!("dial {url}: {e}"))?;
    for sent in [Message::text(TEXT), Message::binary(BINARY.to_vec())] {
        ws.send(sent.clone())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let reply = loop {
            let next = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .map_err(|_| "no reply within 10s".to_string())?
                .ok_or("connection closed before the reply")?
                .map_err(|e| format!("receive: {e}"))?;
            if next.is_text() || next.is_binary() || next.is_close() {
                break next;
            }
        };
        if reply != sent {
            return Err(format!("sent {sent:?}, got back {reply:?}"));
        }
    }
    // Closing is best effort: the exchange already succeeded.
    let _ = ws.close(None).await;
    Ok(())
}

/// Upstream `AwaitConvergence` around [`exchange`]: N successes in a row.
pub async fn expect_websocket(env: &Env, gw_addr: &str) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + env.config.max_time_to_consistency;
    let mut successes = 0;
    loop {
        match exchange(gw_addr).await {
            Ok(()) => {
                successes += 1;
                if successes >= env.config.required_consecutive_successes {
                    return Ok(());
                }
                continue;
            }
            Err(why) => {
                successes = 0;
                if tokio::time::Instant::now() > deadline {
                    return Err(Failure(format!("websocket via {gw_addr}: {why}")));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
