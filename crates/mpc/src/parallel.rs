//! Validating many independent items on every core while keeping the answer of a sequential
//! loop: the results of the items before the first failing one, in order, and that failure.
//!
//! Items are handed out in chunks from one queue to the calling thread and `threads - 1`
//! helpers (std scoped threads; a helper that cannot be spawned is simply missing). Once an
//! item fails, items after it are no longer started. A panic in the work function is caught
//! and reported as that item's failure, so the caller never unwinds.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// Items handed to a thread at a time: large enough that the queue's lock is cheap, small
/// enough that two threads finish close together.
const CHUNK: usize = 128;

/// The outcome of [`try_map_ordered`].
pub(crate) struct Ordered<U, E> {
    /// Results of items `0..ok.len()`, all of which succeeded.
    pub(crate) ok: Vec<U>,
    /// The first failure by item order: item `ok.len()` and its error.
    pub(crate) err: Option<E>,
}

/// One chunk's results: its first index, its outputs, and the error that ended it (if any).
type Done<U, E> = (usize, Vec<U>, Option<E>);

/// The number of threads worth using: the available parallelism, at most one per chunk.
pub(crate) fn threads_for(items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.min(items.div_ceil(CHUNK)).max(1)
}

/// Runs `f(index, item)` over `items` on `threads` threads (the calling thread included).
/// `panicked(index)` is the error for an item whose `f` panicked.
pub(crate) fn try_map_ordered<T, U, E, F, P>(
    items: Vec<T>,
    threads: usize,
    f: F,
    panicked: P,
) -> Ordered<U, E>
where
    T: Send,
    U: Send,
    E: Send,
    F: Fn(usize, T) -> Result<U, E> + Sync,
    P: Fn(usize) -> E + Sync,
{
    let total = items.len();
    let queue = Mutex::new((0usize, items.into_iter()));
    let first_error = AtomicUsize::new(usize::MAX);
    let done: Mutex<Vec<Done<U, E>>> = Mutex::new(Vec::new());

    let work = || {
        loop {
            let (start, chunk) = {
                let mut q = queue.lock().unwrap_or_else(PoisonError::into_inner);
                let start = q.0;
                if start >= total || start > first_error.load(Ordering::Relaxed) {
                    return;
                }
                let chunk: Vec<T> = q.1.by_ref().take(CHUNK).collect();
                q.0 += chunk.len();
                (start, chunk)
            };
            if chunk.is_empty() {
                return;
            }
            let mut out = Vec::with_capacity(chunk.len());
            let mut err = None;
            for (index, item) in (start..).zip(chunk) {
                if index > first_error.load(Ordering::Relaxed) {
                    break;
                }
                let result = catch_unwind(AssertUnwindSafe(|| f(index, item)))
                    .unwrap_or_else(|_| Err(panicked(index)));
                match result {
                    Ok(u) => out.push(u),
                    Err(e) => {
                        first_error.fetch_min(index, Ordering::Relaxed);
                        err = Some(e);
                        break;
                    }
                }
            }
            done.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((start, out, err));
        }
    };

    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 1..threads {
                // A helper that cannot be spawned leaves its share to the others.
                let _ = std::thread::Builder::new().spawn_scoped(scope, work);
            }
            work();
        });
    }

    let mut chunks = done.into_inner().unwrap_or_else(PoisonError::into_inner);
    chunks.sort_unstable_by_key(|(start, _, _)| *start);
    let mut ok = Vec::with_capacity(total);
    for (start, out, err) in chunks {
        // Every item before the first failure was processed, so until that failure the chunks
        // are contiguous; a gap or a short chunk can only come after it.
        if start != ok.len() {
            break;
        }
        ok.extend(out);
        if err.is_some() {
            return Ordered { ok, err };
        }
    }
    Ordered { ok, err: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_in_order_and_the_first_failure_wins() {
        let items: Vec<usize> = (0..2000).collect();
        let all = try_map_ordered(
            items.clone(),
            3,
            |i, x| Ok::<_, String>((i, x * 2)),
            |_| "panic".to_string(),
        );
        assert!(all.err.is_none());
        assert_eq!(all.ok.len(), 2000);
        assert!(
            all.ok
                .iter()
                .enumerate()
                .all(|(i, &(j, v))| i == j && v == 2 * i)
        );

        for threads in [1, 2, 4] {
            let r = try_map_ordered(
                items.clone(),
                threads,
                |i, x| {
                    if x == 1500 || x == 700 || x == 1999 {
                        Err(format!("bad {x}"))
                    } else {
                        Ok(i)
                    }
                },
                |i| format!("panic {i}"),
            );
            assert_eq!(r.err.as_deref(), Some("bad 700"));
            assert_eq!(r.ok, (0..700).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panic_is_that_items_failure() {
        let r = try_map_ordered(
            (0..500).collect::<Vec<u32>>(),
            2,
            |_, x| {
                assert!(x != 300, "boom");
                Ok::<_, String>(x)
            },
            |i| format!("panic at {i}"),
        );
        assert_eq!(r.err.as_deref(), Some("panic at 300"));
        assert_eq!(r.ok.len(), 300);
        let empty = try_map_ordered(Vec::<u8>::new(), 4, |_, x| Ok::<_, ()>(x), |_| ());
        assert!(empty.ok.is_empty() && empty.err.is_none());
    }
}
