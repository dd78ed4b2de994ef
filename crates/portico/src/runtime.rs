//! The Tokio runtime the binary runs on, chosen by `portico run --workers`.
//!
//! One worker is a current-thread runtime: the downstream connection, its
//! upstream connection, the timers and the I/O driver all run on the thread
//! that waits in epoll, so a request never wakes another thread. More
//! workers are a multi-thread runtime; no flag keeps Tokio's default (one
//! worker per CPU, or `TOKIO_WORKER_THREADS`).

use tokio::runtime::{Builder, Runtime};

/// Builds the runtime for `workers` threads (`None`: Tokio's default).
pub fn build(workers: Option<usize>) -> std::io::Result<Runtime> {
    let mut builder = match workers {
        Some(1) => Builder::new_current_thread(),
        Some(n) => {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
        None => Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    fn flavor(workers: Option<usize>) -> (RuntimeFlavor, usize) {
        let rt = build(workers).expect("runtime");
        let flavor = rt.handle().runtime_flavor();
        (flavor, rt.metrics().num_workers())
    }

    #[test]
    fn one_worker_is_a_current_thread_runtime() {
        assert_eq!(flavor(Some(1)), (RuntimeFlavor::CurrentThread, 1));
    }

    #[test]
    fn more_workers_are_a_multi_thread_runtime() {
        assert_eq!(flavor(Some(3)), (RuntimeFlavor::MultiThread, 3));
        assert_eq!(flavor(None).0, RuntimeFlavor::MultiThread);
    }

    #[test]
    fn one_worker_runtime_serves_io_and_timers() {
        let rt = build(Some(1)).expect("runtime");
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let server = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let (mut s, _) = listener.accept().await.expect("accept");
                s.write_all(b"hi").await.expect("write");
            });
            use tokio::io::AsyncReadExt;
            let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut buf = Vec::new();
            tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut buf))
                .await
                .expect("deadline")
                .expect("read");
            assert_eq!(buf, b"hi");
            server.await.expect("server task");
        });
    }
}
