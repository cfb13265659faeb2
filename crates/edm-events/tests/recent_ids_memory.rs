//! What the dedup window costs in memory, measured: the heap bytes a
//! partition's window holds per id, counted by a global allocator, at
//! window sizes from 1,000 to 1,000,000 ids, after the window has rolled
//! over once (steady state: what a long-running instance holds). The
//! figure README, the settings' documentation and docs/scaling.md give
//! ("at most 135 bytes an id") must cover every size.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use edm_events::recent_ids::{IdDigest, RecentIds};

/// The system allocator, counting the bytes it has handed out and not
/// had back.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only a
// counter is kept beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::SeqCst);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
            LIVE_BYTES.fetch_add(new_size, Ordering::SeqCst);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The documented cost of an id at most, whatever the window's size (the
/// queue and the hash table grow by doubling).
const DOCUMENTED_BYTES_PER_ID: f64 = 135.0;

/// Heap bytes per id of a window of `window` offsets, every record with
/// a distinct id, once it has rolled over.
fn bytes_per_id(window: u64) -> f64 {
    let mut ids = RecentIds::new(window, IdDigest::new());
    let id_text: Vec<String> = (0..2 * window).map(|n| format!("visitor-{n}")).collect();
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    for (offset, id) in id_text.iter().enumerate() {
        assert!(!ids.is_duplicate(offset as i64, Some(id)));
    }
    let held = LIVE_BYTES.load(Ordering::SeqCst) - before;
    assert!(
        ids.len() as u64 >= window,
        "a full window: {} ids",
        ids.len()
    );
    held as f64 / ids.len() as f64
}

#[test]
fn a_windows_ids_cost_what_the_documentation_says() {
    let mut figures = Vec::new();
    // Each side of the queue's and the table's doublings, and the default.
    for window in [
        1_000, 10_000, 32_769, 65_537, 100_000, 131_073, 1_000_000, 1_048_577,
    ] {
        let per_id = bytes_per_id(window);
        println!("window {window:>9} ids: {per_id:.1} heap bytes an id");
        figures.push((window, per_id));
    }
    for (window, per_id) in figures {
        assert!(
            per_id <= DOCUMENTED_BYTES_PER_ID,
            "a window of {window} ids holds {per_id:.1} bytes an id"
        );
    }
}
