//! What the fuzzers measure beside panics: the bytes a call allocates at its
//! peak (a global allocator counting per thread), and whether a call that
//! may abort the process (a stack overflow, a failed allocation) does, run
//! in a child process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::Command;

/// Counts the bytes held by each thread, and the most it held.
pub struct Meter;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + delta;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed to `System` unchanged; counting allocates nothing.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// `f`'s result and the most bytes it held at once beyond what the thread
/// held before.
pub fn peak_bytes<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, (peak - before).max(0) as usize)
}

/// The stack of a tokio worker thread, where the server parses, evaluates
/// and renders: 2 MiB.
pub const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with a worker's stack, as the server would.
pub fn on_worker_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn_scoped(s, f)
            .expect("a thread")
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Whether the test `name` (one that only acts in a child, see
/// [`in_child`]) ends normally when run in a child process, and what it
/// printed if not: a stack overflow or a failed allocation aborts the
/// process, which no test in this one could observe.
pub fn child_survives(name: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ESCALATOR_FUZZ_CHILD", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(format!(
            "{}: {}",
            out.status,
            last[last.len().saturating_sub(3)..].join(" | ")
        ))
    }
}

/// Whether this process is a child started by [`child_survives`]; the
/// child-only tests do nothing otherwise (run directly, they could abort
/// the whole test binary).
pub fn in_child() -> bool {
    std::env::var_os("ESCALATOR_FUZZ_CHILD").is_some()
}
