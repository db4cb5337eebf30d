//! The one bidirectional byte pump used by every bridge.
//!
//! Both directions are polled by a single future (no task or lock per direction). Each
//! direction reads into its own fixed buffer and writes straight to the other socket —
//! nothing is held back, so an SSE event or a gRPC frame leaves as soon as it arrives.
//! When one side stops sending (EOF), the other side's write half is shut down and the
//! opposite direction keeps flowing until it ends too. Counters are updated per chunk, so
//! a metric reads live totals even for streams that last hours.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Tuning for [`copy_bidirectional`].
#[derive(Clone, Copy, Debug)]
pub struct CopyOptions {
    /// Buffer per direction. Memory per stream is twice this.
    pub buffer_size: usize,
    /// Close the pair after this long without a byte in either direction.
    pub idle_timeout: Option<Duration>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            buffer_size: 64 * 1024,
            idle_timeout: None,
        }
    }
}

/// Bytes moved in each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// From the first stream to the second.
    pub a_to_b: u64,
    /// From the second stream to the first.
    pub b_to_a: u64,
}

/// Why a copy ended early. The stats say how far it got.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Neither side sent anything for the idle timeout.
    #[error("idle for {0:?}")]
    Idle(Duration, CopyStats),
    /// A read, write or shutdown failed.
    #[error("{0}")]
    Io(io::Error, CopyStats),
}

impl CopyError {
    /// Bytes moved before the copy ended.
    pub fn stats(&self) -> CopyStats {
        match self {
            CopyError::Idle(_, s) | CopyError::Io(_, s) => *s,
        }
    }
}

struct Half<'m> {
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    eof: bool,
    done: bool,
    need_flush: bool,
    total: u64,
    meter: Option<&'m AtomicU64>,
}

impl<'m> Half<'m> {
    fn new(size: usize, meter: Option<&'m AtomicU64>) -> Self {
        Half {
            buf: vec![0u8; size.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            eof: false,
            done: false,
            need_flush: false,
            total: 0,
            meter,
        }
    }

    /// Moves bytes from `r` to `w` until `r` would block (Pending) or ends (Ready).
    /// Sets `active` when any byte moved.
    fn poll_pump<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        active: &mut bool,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            if self.pos == self.filled && !self.eof {
                let mut rb = ReadBuf::new(&mut self.buf);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            self.eof = true;
                        } else {
                            self.pos = 0;
                            self.filled = n;
                            *active = true;
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        if self.need_flush {
                            ready!(w.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.filled {
                let n = ready!(w.as_mut().poll_write(cx, &self.buf[self.pos..self.filled]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.total += n as u64;
                self.need_flush = true;
                *active = true;
                if let Some(m) = self.meter {
                    m.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            if self.eof {
                ready!(w.as_mut().poll_flush(cx))?;
                self.need_flush = false;
                // Half-close: tell the other side nothing more is coming, keep reading it.
                match ready!(w.as_mut().poll_shutdown(cx)) {
                    Ok(()) => {}
                    // The peer already closed completely; nothing left to tell it.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                self.done = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

struct Copy<'a, 'm, A: ?Sized, B: ?Sized> {
    a: &'a mut A,
    b: &'a mut B,
    ab: Half<'m>,
    ba: Half<'m>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    last_activity: Instant,
}

impl<A, B> Copy<'_, '_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    fn stats(&self) -> CopyStats {
        CopyStats {
            a_to_b: self.ab.total,
            b_to_a: self.ba.total,
        }
    }
}

impl<A, B> Future for Copy<'_, '_, A, B>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    type Output = Result<CopyStats, CopyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut active = false;
        if !this.ab.done {
            let r = this.ab.poll_pump(
                cx,
                Pin::new(&mut *this.a),
                Pin::new(&mut *this.b),
                &mut active,
            );
            if let Poll::Ready(Err(e)) = r {
                return Poll::Ready(Err(CopyError::Io(e, this.stats())));
            }
        }
        if !this.ba.done {
            let r = this.ba.poll_pump(
                cx,
                Pin::new(&mut *this.b),
                Pin::new(&mut *this.a),
                &mut active,
            );
            if let Poll::Ready(Err(e)) = r {
                return Poll::Ready(Err(CopyError::Io(e, this.stats())));
            }
        }
        if this.ab.done && this.ba.done {
            return Poll::Ready(Ok(this.stats()));
        }
        if let Some((limit, sleep)) = &mut this.idle {
            if active {
                this.last_activity = Instant::now();
            }
            // The timer is re-armed lazily: activity only moves `last_activity`, and the
            // sleep is pushed back when it fires early.
            while sleep.as_mut().poll(cx).is_ready() {
                let deadline = this.last_activity + *limit;
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(CopyError::Idle(*limit, this.stats())));
                }
                sleep.as_mut().reset(deadline);
            }
        }
        Poll::Pending
    }
}

/// Copies `a → b` and `b → a` until both directions have ended, one fails, or the pair is
/// idle for `opts.idle_timeout`. `meters` (a→b, b→a) are incremented as bytes move.
pub async fn copy_bidirectional<A, B>(
    a: &mut A,
    b: &mut B,
    opts: CopyOptions,
    meters: (Option<&AtomicU64>, Option<&AtomicU64>),
) -> Result<CopyStats, CopyError>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let now = Instant::now();
    Copy {
        a,
        b,
        ab: Half::new(opts.buffer_size, meters.0),
        ba: Half::new(opts.buffer_size, meters.1),
        idle: opts
            .idle_timeout
            .map(|d| (d, Box::pin(tokio::time::sleep_until(now + d)))),
        last_activity: now,
    }
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    /// client <-> (a | copy | b) <-> server
    async fn pair(
        opts: CopyOptions,
    ) -> (
        UnixStream,
        UnixStream,
        tokio::task::JoinHandle<Result<CopyStats, CopyError>>,
    ) {
        let (client, mut a) = UnixStream::pair().unwrap();
        let (mut b, server) = UnixStream::pair().unwrap();
        let h =
            tokio::spawn(
                async move { copy_bidirectional(&mut a, &mut b, opts, (None, None)).await },
            );
        (client, server, h)
    }

    #[tokio::test]
    async fn half_close_each_way_keeps_the_other_flowing() {
        // Client finishes sending first; server keeps answering afterwards.
        let (mut client, mut server, h) = pair(CopyOptions::default()).await;
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        server.write_all(b"late reply").await.unwrap();
        server.shutdown().await.unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"late reply");
        assert_eq!(
            h.await.unwrap().unwrap(),
            CopyStats {
                a_to_b: 7,
                b_to_a: 10
            }
        );

        // Server finishes first; client keeps sending afterwards.
        let (mut client, mut server, h) = pair(CopyOptions::default()).await;
        server.write_all(b"banner").await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"banner");
        client.write_all(b"still talking").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"still talking");
        assert_eq!(
            h.await.unwrap().unwrap(),
            CopyStats {
                a_to_b: 13,
                b_to_a: 6
            }
        );
    }

    #[tokio::test]
    async fn small_writes_are_not_held_back() {
        let (mut client, mut server, _h) = pair(CopyOptions::default()).await;
        for i in 0..50u8 {
            server.write_all(&[i]).await.unwrap();
            let mut b = [0u8; 1];
            tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut b))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(b[0], i);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_closes_quiet_pairs_but_not_busy_ones() {
        let opts = CopyOptions {
            idle_timeout: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        let (mut client, mut server, h) = pair(opts).await;
        // Activity every 6 s keeps it open past 10 s.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            server.read_exact(&mut b).await.unwrap();
        }
        assert!(!h.is_finished());
        tokio::time::sleep(Duration::from_secs(11)).await;
        match h.await.unwrap() {
            Err(CopyError::Idle(d, stats)) => {
                assert_eq!(d, Duration::from_secs(10));
                assert_eq!(stats.a_to_b, 4);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn meters_count_live() {
        let m = (AtomicU64::new(0), AtomicU64::new(0));
        let (mut client, mut a) = UnixStream::pair().unwrap();
        let (mut b, mut server) = UnixStream::pair().unwrap();
        let copy = copy_bidirectional(
            &mut a,
            &mut b,
            CopyOptions {
                buffer_size: 7,
                idle_timeout: None,
            },
            (Some(&m.0), Some(&m.1)),
        );
        let drive = async {
            client.write_all(&[1u8; 100]).await.unwrap();
            let mut got = [0u8; 100];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(m.0.load(Ordering::Relaxed), 100);
            server.write_all(b"ok").await.unwrap();
            let mut ok = [0u8; 2];
            client.read_exact(&mut ok).await.unwrap();
            drop(server);
            drop(client);
        };
        let (r, ()) = tokio::join!(copy, drive);
        assert_eq!(
            r.unwrap(),
            CopyStats {
                a_to_b: 100,
                b_to_a: 2
            }
        );
        assert_eq!(m.1.load(Ordering::Relaxed), 2);
    }
}
