//! Connections the mock can cut.
//!
//! Every connection (TCP, or in-process over a duplex pipe) is wrapped in a
//! [`Cuttable`] whose [`ConnectionHandle`] reaches the request handlers
//! through tonic's connect info. "Drop the connection" then really closes
//! it: reads and writes fail, hyper tears the connection down, and the
//! client sees a transport error, as with a crashed server or a cut cable.

use eventstore_client::wire::CONNECTION_DROPPED;
use futures::task::AtomicWaker;
use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// Cuts the connection a request arrived on.
#[derive(Debug, Clone, Default)]
pub struct ConnectionHandle {
    cut: Arc<Cut>,
}

#[derive(Debug, Default)]
struct Cut {
    done: AtomicBool,
    reader: AtomicWaker,
}

impl ConnectionHandle {
    /// Closes the connection: pending and future reads and writes fail.
    pub fn cut(&self) {
        self.cut.done.store(true, Ordering::SeqCst);
        self.cut.reader.wake();
    }

    fn is_cut(&self) -> bool {
        self.cut.done.load(Ordering::SeqCst)
    }
}

/// An I/O stream that fails once its handle is cut.
#[derive(Debug)]
pub struct Cuttable<IO> {
    io: IO,
    handle: ConnectionHandle,
}

impl<IO> Cuttable<IO> {
    /// Wraps `io`.
    pub fn new(io: IO) -> Self {
        Self {
            io,
            handle: ConnectionHandle::default(),
        }
    }
}

fn cut_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, CONNECTION_DROPPED)
}

impl<IO: AsyncRead + Unpin> AsyncRead for Cuttable<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.handle.cut.reader.register(cx.waker());
        if self.handle.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Cuttable<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.handle.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handle.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO> Connected for Cuttable<IO> {
    type ConnectInfo = ConnectionHandle;

    fn connect_info(&self) -> ConnectionHandle {
        self.handle.clone()
    }
}
