//! TCP and UDP echo modes with plain sockets.

mod common;

use common::{config, listener, within};
use portico_echo::{CancellationToken, TCP_GREETING, serve_tcp, serve_udp};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

#[tokio::test]
async fn tcp_greeting_and_commands() {
    let (config, _log) = config("tcp-backend");
    let server = serve_tcp(listener().await, config, CancellationToken::new())
        .await
        .expect("serve");
    let addr = server.local_addr();
    let stream = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let greeting = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    assert_eq!(format!("{greeting}\n"), TCP_GREETING);

    write
        .write_all(b"PING\nUNKNOWN\nIS_TLS\r\nTEST\n")
        .await
        .expect("write");
    let pong = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    assert_eq!(pong, "PONG");
    let tls = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    assert_eq!(tls, "false");
    let test = within(lines.next_line())
        .await
        .expect("read")
        .expect("line");
    let v: serde_json::Value = serde_json::from_str(&test).expect("json");
    assert_eq!(v["service"], "tcp-backend");
    assert_eq!(v["namespace"], "gateway-conformance-infra");
    assert_eq!(v["isTLS"], false);
    assert_eq!(v["tcpport"], addr.port().to_string());
    assert!(v["pod"].as_str().expect("pod").starts_with("tcp-backend-"));
}

#[tokio::test]
async fn udp_answers_each_datagram() {
    let (config, _log) = config("udp-backend");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = serve_udp(socket, config, CancellationToken::new())
        .await
        .expect("serve");
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    client.connect(server.local_addr()).await.expect("connect");
    let mut buf = vec![0u8; 2048];
    for payload in ["ping", "second"] {
        client.send(payload.as_bytes()).await.expect("send");
        let n = within(client.recv(&mut buf)).await.expect("recv");
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).expect("json");
        assert_eq!(v["request"], payload);
        assert_eq!(v["service"], "udp-backend");
        assert_eq!(v["pod"], server.identity().pod.as_str());
    }
}
