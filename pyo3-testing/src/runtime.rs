//! The one tokio runtime behind the Python SDK, and the bridge that turns a
//! Rust future into an asyncio awaitable.
//!
//! Every task that may touch Python holds an `InFlight` guard. At
//! interpreter exit `eventstore` calls `shutdown` (from `atexit`, before
//! finalization): new work is refused, work in flight is cancelled, and the
//! call waits, with the GIL released, until no task can touch Python any
//! more; then the runtime's threads are stopped. A task finishing after that
//! point never attaches to the interpreter, so exit never aborts or hangs.
//!
//! Results reach asyncio without the runtime's threads taking the GIL: a
//! finished task queues its result for its event loop and, if the queue was
//! idle, writes one byte to a socket the loop watches (`add_reader`). The
//! loop then resolves every queued future in one callback, on its own
//! thread. Many results cost one wake-up, and an I/O thread never waits for
//! a Python thread that holds the GIL. Loops without `add_reader` (Windows'
//! proactor loop) get each result through `call_soon_threadsafe` instead.

use crate::errors::NativeResult;
use parking_lot::Mutex;
use pyo3::{BoundObject, exceptions::PyRuntimeError, intern, prelude::*, sync::PyOnceLock};
use std::{
    future::Future,
    sync::{
        LazyLock, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
static HANDLE: OnceLock<Handle> = OnceLock::new();
static SHUTDOWN: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The runtime's handle, starting it on first use.
pub(crate) fn handle() -> PyResult<Handle> {
    if SHUTDOWN.is_cancelled() {
        return Err(PyRuntimeError::new_err(
            "the eventstore runtime has been shut down (the interpreter is exiting)",
        ));
    }
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let mut slot = RUNTIME.lock();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .thread_name("eventstore-io")
        .enable_all()
        .build()
        .map_err(|e| {
            PyRuntimeError::new_err(format!("cannot start the eventstore runtime: {e}"))
        })?;
    let handle = runtime.handle().clone();
    *slot = Some(runtime);
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

/// Cancelled when the interpreter exits: every native operation selects on it.
pub(crate) fn shutdown_token() -> &'static CancellationToken {
    &SHUTDOWN
}

/// Marks a task that may still touch Python.
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn enter() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `future` on the runtime and blocks this (Python) thread until it
/// is done, with the GIL released.
pub(crate) fn block_on<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = NativeResult<T>> + Send,
    T: Send,
{
    let handle = handle()?;
    py.detach(|| handle.block_on(future))
        .map_err(|e| e.into_py(py))
}

/// How often a command run by [`block_on_command`] lets Python see Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Runs a command's `main` (its exit status) on the runtime, blocking
/// this thread with the GIL released, as [`block_on`]; and, every
/// [`SIGNAL_POLL`], runs Python's signal handlers, so Ctrl-C ends the
/// command (dropping its future) with Python's `KeyboardInterrupt`.
pub(crate) fn block_on_command<F>(py: Python<'_>, main: F) -> PyResult<i32>
where
    F: Future<Output = i32> + Send,
{
    let handle = handle()?;
    py.detach(|| {
        handle.block_on(async move {
            let mut main = std::pin::pin!(main);
            loop {
                tokio::select! {
                    code = &mut main => return Ok(code),
                    () = tokio::time::sleep(SIGNAL_POLL) => {
                        Python::attach(|py| py.check_signals())?;
                    }
                }
            }
        })
    })
}

/// Sets the result of an asyncio future, on the loop's thread, unless it
/// was cancelled meanwhile (the `call_soon_threadsafe` path).
#[pyclass(frozen)]
struct Resolve {
    outcome: Mutex<Option<Outcome>>,
}

#[pymethods]
impl Resolve {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let outcome = self.outcome.lock().take();
        outcome.map_or(Ok(()), |outcome| outcome.settle(py))
    }
}

/// Cancels the Rust side when the asyncio future is cancelled.
#[pyclass]
struct CancelOnDone {
    token: CancellationToken,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.token.cancel();
        }
        Ok(())
    }
}

/// Converts a task's outcome into what its asyncio future receives.
type Deliver = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A finished task's outcome, on its way to its asyncio future.
struct Outcome {
    future: Py<PyAny>,
    /// The future's `CancelOnDone` callback, removed once the outcome is
    /// set: a done future cannot be cancelled, so it would only cost a
    /// scheduled call.
    on_cancel: Py<PyAny>,
    deliver: Deliver,
}

impl Outcome {
    /// Sets the future's outcome unless it is done (cancelled) already.
    fn settle(self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        // An optimization only: the outcome is set even if this fails.
        let _ = future.call_method1(
            intern!(py, "remove_done_callback"),
            (self.on_cancel.bind(py),),
        );
        match (self.deliver)(py) {
            Ok(value) => future.call_method1(intern!(py, "set_result"), (value,))?,
            Err(error) => {
                future.call_method1(intern!(py, "set_exception"), (error.value(py).clone(),))?
            }
        };
        Ok(())
    }
}

fn deliver<T>(outcome: NativeResult<T>) -> Deliver
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    Box::new(move |py| match outcome {
        Ok(value) => value
            .into_pyobject(py)
            .map(|v| v.into_any().unbind())
            .map_err(Into::into),
        Err(error) => Err(error.into_py(py)),
    })
}

#[cfg(unix)]
mod wake {
    //! Per event loop: the results waiting for it, and the socket that wakes it.

    use super::Outcome;
    use parking_lot::Mutex;
    use pyo3::{intern, prelude::*};
    use std::{
        cell::Cell,
        io::{Read, Write},
        os::{fd::AsRawFd, unix::net::UnixStream},
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    };

    /// Results for one event loop. Pushed from any thread without the GIL.
    pub(super) struct Completions {
        ready: Mutex<Vec<Outcome>>,
        /// A wake-up byte is on its way: later results ride along.
        armed: AtomicBool,
        wake: UnixStream,
    }

    impl std::fmt::Debug for Completions {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Completions")
                .field("ready", &self.ready.lock().len())
                .field("armed", &self.armed)
                .finish_non_exhaustive()
        }
    }

    impl Completions {
        pub(super) fn push(&self, outcome: Outcome) {
            self.ready.lock().push(outcome);
            if !self.armed.swap(true, Ordering::SeqCst) {
                // One byte at most is in the socket. If the loop is gone,
                // nobody reads it and the result is dropped with the queue.
                let _ = (&self.wake).write(&[1]);
            }
        }
    }

    /// The loop's reader callback: resolves every queued future.
    #[pyclass(frozen, module = "eventstore._native")]
    #[derive(Debug)]
    pub(super) struct LoopWaker {
        completions: Arc<Completions>,
        read: UnixStream,
    }

    #[pymethods]
    impl LoopWaker {
        fn __call__(&self, py: Python<'_>) -> PyResult<()> {
            let mut sink = [0u8; 64];
            let _ = (&self.read).read(&mut sink);
            // Cleared before taking the queue: a result pushed from now on
            // either is in this batch or writes a new byte.
            self.completions.armed.store(false, Ordering::SeqCst);
            let ready = std::mem::take(&mut *self.completions.ready.lock());
            let mut first_error = None;
            for outcome in ready {
                if let Err(e) = outcome.settle(py) {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        }
    }

    thread_local! {
        /// The last loop (by address) found unable to host a waker.
        static UNSUPPORTED: Cell<usize> = const { Cell::new(0) };
    }

    /// The completion queue of `event_loop` (the running loop of this
    /// thread), set up on first use; `None` if the loop cannot watch a socket.
    pub(super) fn completions(event_loop: &Bound<'_, PyAny>) -> Option<Arc<Completions>> {
        let py = event_loop.py();
        let name = intern!(py, "_eventstore_waker");
        if let Ok(existing) = event_loop.getattr(name) {
            return existing
                .cast::<LoopWaker>()
                .ok()
                .map(|w| w.get().completions.clone());
        }
        let address = event_loop.as_ptr() as usize;
        if UNSUPPORTED.with(Cell::get) == address {
            return None;
        }
        let installed = install(event_loop, name);
        if installed.is_none() {
            UNSUPPORTED.with(|c| c.set(address));
        }
        installed
    }

    fn install(
        event_loop: &Bound<'_, PyAny>,
        name: &Bound<'_, pyo3::types::PyString>,
    ) -> Option<Arc<Completions>> {
        let (read, wake) = UnixStream::pair().ok()?;
        read.set_nonblocking(true).ok()?;
        wake.set_nonblocking(true).ok()?;
        let completions = Arc::new(Completions {
            ready: Mutex::new(Vec::new()),
            armed: AtomicBool::new(false),
            wake,
        });
        let fd = read.as_raw_fd();
        let waker = Bound::new(
            event_loop.py(),
            LoopWaker {
                completions: completions.clone(),
                read,
            },
        )
        .ok()?;
        // Proactor loops have no add_reader; uvloop-like loops may refuse
        // attributes: both fall back to call_soon_threadsafe.
        event_loop
            .call_method1(intern!(event_loop.py(), "add_reader"), (fd, &waker))
            .ok()?;
        if event_loop.setattr(name, &waker).is_err() {
            let _ = event_loop.call_method1(intern!(event_loop.py(), "remove_reader"), (fd,));
            return None;
        }
        Some(completions)
    }
}

#[cfg(not(unix))]
mod wake {
    //! No socket pair: every result goes through `call_soon_threadsafe`.

    use super::Outcome;
    use pyo3::prelude::*;
    use std::sync::Arc;

    #[derive(Debug)]
    pub(super) enum Completions {}

    impl Completions {
        pub(super) fn push(&self, _: Outcome) {
            match *self {}
        }
    }

    pub(super) fn completions(_: &Bound<'_, PyAny>) -> Option<Arc<Completions>> {
        None
    }
}

/// `asyncio.get_running_loop()`.
fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()
}

/// An asyncio awaitable for `future`, run on the runtime. Cancelling the
/// awaitable cancels the future; so does interpreter exit.
pub(crate) fn future_into_py<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = NativeResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let handle = handle()?;
    let event_loop = running_loop(py)?;
    let py_future = event_loop.call_method0(intern!(py, "create_future"))?;
    let cancel = CancellationToken::new();
    let on_cancel = Bound::new(
        py,
        CancelOnDone {
            token: cancel.clone(),
        },
    )?
    .into_any();
    py_future.call_method1(intern!(py, "add_done_callback"), (&on_cancel,))?;
    let completions = wake::completions(&event_loop);
    let event_loop = event_loop.unbind();
    let target = py_future.clone().unbind();
    let on_cancel = on_cancel.unbind();
    let guard = InFlight::enter();
    // Boxed: a gRPC call's future is ~6 KiB and the task would hold it twice
    // (13 KiB, copied in at spawn and over again when the output is stored).
    let future = Box::pin(future);
    handle.spawn(async move {
        let _guard = guard;
        let outcome = tokio::select! {
            outcome = future => outcome,
            () = cancel.cancelled() => return,
            () = SHUTDOWN.cancelled() => return,
        };
        let outcome = Outcome {
            future: target,
            on_cancel,
            deliver: deliver(outcome),
        };
        if let Some(completions) = completions {
            // No GIL here: the loop's thread converts and resolves.
            completions.push(outcome);
            return;
        }
        // Never attach while the interpreter finalizes.
        Python::try_attach(|py| {
            let resolve = Resolve {
                outcome: Mutex::new(Some(outcome)),
            };
            // The loop may be closed already; then nobody waits for this result.
            let _ = event_loop.call_method1(py, "call_soon_threadsafe", (resolve,));
        });
    });
    Ok(py_future)
}

/// An awaitable whose result is already there: awaiting it returns the
/// result at once, without a trip through the event loop (an asyncio
/// future costs a callback and a loop iteration even when done).
#[pyclass(frozen, module = "eventstore._native")]
#[derive(Debug)]
pub struct Ready {
    value: Py<PyAny>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Ends the iteration at once with the result (`StopIteration(value)`
    /// is how a finished awaitable hands over its result).
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Err(pyo3::exceptions::PyStopIteration::new_err((self
            .value
            .clone_ref(py),)))
    }
}

/// Runs `future` on this (the caller's) thread as far as it goes without
/// waiting: if it finishes at once, as a call to an in-process mock
/// does, its result is a [`Ready`] awaitable (its error is raised here,
/// inside the caller's coroutine, as awaiting would have raised it);
/// otherwise it continues on the runtime as [`future_into_py`]'s, which
/// polls it again with a real waker. No thread is crossed for an answer
/// that needs no waiting.
pub(crate) fn ready_or_spawn<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = NativeResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let handle = handle()?;
    let mut future = Box::pin(future);
    let polled = {
        // Timers and tasks the future makes need the runtime's context.
        let _entered = handle.enter();
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        future.as_mut().poll(&mut context)
    };
    match polled {
        std::task::Poll::Ready(Ok(value)) => {
            let value = value
                .into_pyobject(py)
                .map(|v| v.into_any().unbind())
                .map_err(Into::into)?;
            Ok(Bound::new(py, Ready { value })?.into_any())
        }
        std::task::Poll::Ready(Err(error)) => Err(error.into_py(py)),
        std::task::Poll::Pending => future_into_py(py, future),
    }
}

/// Stops the runtime: refuses new work, cancels work in flight, waits up to
/// `timeout_secs` for tasks that may touch Python, then stops the threads.
/// Idempotent. Called by `eventstore` at interpreter exit.
#[pyfunction]
#[pyo3(signature = (timeout_secs = 2.0))]
pub(crate) fn shutdown(py: Python<'_>, timeout_secs: f64) {
    SHUTDOWN.cancel();
    let timeout = Duration::from_secs_f64(timeout_secs.clamp(0.0, 60.0));
    let runtime = RUNTIME.lock().take();
    py.detach(|| {
        let deadline = std::time::Instant::now() + timeout;
        while IN_FLIGHT.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(runtime) = runtime {
            runtime.shutdown_timeout(timeout);
        }
    });
}
