//! Just enough TLS parsing to route passthrough connections: read the first
//! handshake record (the ClientHello) and find its server_name extension.
//! Every length is checked; malformed input is an error, never a panic.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Largest ClientHello record accepted (TLS caps records at 16 KiB + 256).
const MAX_RECORD: usize = 16 * 1024 + 256;

/// Reads the first TLS record (header included) from `stream`.
pub async fn read_client_hello<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).await?;
    if header[0] != 0x16 {
        return Err(std::io::Error::other("not a TLS handshake record"));
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if len == 0 || len > MAX_RECORD {
        return Err(std::io::Error::other("bad TLS record length"));
    }
    let mut record = Vec::with_capacity(5 + len);
    record.extend_from_slice(&header);
    record.resize(5 + len, 0);
    stream.read_exact(&mut record[5..]).await?;
    Ok(record)
}

/// A cursor that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// The SNI host name of a ClientHello record, if present and valid UTF-8.
pub fn server_name(record: &[u8]) -> Option<String> {
    let mut r = Reader(record);
    r.take(5)?; // record header
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    let len = r.u24()?;
    let mut hello = Reader(r.take(len).unwrap_or(r.0));
    hello.take(2 + 32)?; // legacy_version, random
    hello.vec8()?; // session id
    hello.vec16()?; // cipher suites
    hello.vec8()?; // compression methods
    let mut exts = Reader(hello.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let body = exts.vec16()?;
        if kind != 0 {
            continue;
        }
        let mut list = Reader(Reader(body).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().map(str::to_string);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn client_hello(sni: &str) -> Vec<u8> {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(sni.to_string()).unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn finds_the_server_name_of_a_real_client_hello() {
        let bytes = client_hello("passthrough.example.com");
        let mut cursor = std::io::Cursor::new(bytes.clone());
        let record = read_client_hello(&mut cursor).await.unwrap();
        assert_eq!(record, bytes);
        assert_eq!(
            server_name(&record).as_deref(),
            Some("passthrough.example.com")
        );
    }

    #[test]
    fn truncated_or_garbage_input_is_none() {
        let bytes = client_hello("a.example.com");
        for cut in [0, 5, 9, 40, bytes.len() / 2] {
            let _ = server_name(&bytes[..cut]); // must not panic
        }
        assert_eq!(server_name(&[0x16, 3, 1, 0, 4, 2, 0, 0, 0]), None);
        assert_eq!(server_name(&[]), None);
    }

    #[tokio::test]
    async fn non_tls_is_rejected() {
        let mut cursor = std::io::Cursor::new(b"GET / HTTP/1.1\r\n\r\n".to_vec());
        assert!(read_client_hello(&mut cursor).await.is_err());
    }
}
