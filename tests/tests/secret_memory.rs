//! What stays in memory of a secret once the SDK is done with it, measured by an allocator
//! that looks into every block freed while a test scans: a freed block still holding the
//! secret's bytes is a plaintext copy left behind. (Its own test binary: the allocator is
//! process-wide, and the tests run one at a time.)

use codex_driver::attach::Secret;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The bytes looked for, while [`SCANNING`] is set.
static NEEDLE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// A scan window is open (set by [`freed_copies`]).
static SCANNING: AtomicBool = AtomicBool::new(false);
static LEFT_BEHIND: AtomicUsize = AtomicUsize::new(0);
/// Frees of the scanning thread that could not be looked into (must stay 0).
static SKIPPED: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

thread_local! {
    /// This thread is the one whose frees are scanned.
    static SCANNER: Cell<bool> = const { Cell::new(false) };
    /// This thread is inside a scan (the lock and the comparison must not recurse).
    static IN_SCAN: Cell<bool> = const { Cell::new(false) };
}

struct Scanning;

unsafe impl GlobalAlloc for Scanning {
    /// Every block starts zeroed, so a scan never reads bytes nobody wrote.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mine = SCANNING.load(Ordering::SeqCst)
            && SCANNER.try_with(Cell::get).unwrap_or(false)
            && !IN_SCAN.try_with(Cell::get).unwrap_or(true);
        if mine {
            IN_SCAN.with(|s| s.set(true));
            match NEEDLE.try_lock() {
                Ok(needle) => {
                    let block = std::slice::from_raw_parts(ptr, layout.size());
                    if !needle.is_empty() && block.windows(needle.len()).any(|w| w == needle.as_slice()) {
                        LEFT_BEHIND.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Err(_) => {
                    SKIPPED.fetch_add(1, Ordering::SeqCst);
                }
            }
            IN_SCAN.with(|s| s.set(false));
        }
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// Runs `work` on this thread with `needle` looked for in every block this thread frees;
/// returns how many held it.
fn freed_copies(needle: &str, work: impl FnOnce()) -> usize {
    *NEEDLE.lock().unwrap() = needle.as_bytes().to_vec();
    LEFT_BEHIND.store(0, Ordering::SeqCst);
    SKIPPED.store(0, Ordering::SeqCst);
    SCANNER.with(|s| s.set(true));
    SCANNING.store(true, Ordering::SeqCst);
    work();
    SCANNING.store(false, Ordering::SeqCst);
    SCANNER.with(|s| s.set(false));
    assert_eq!(SKIPPED.load(Ordering::SeqCst), 0, "every free was looked into");
    LEFT_BEHIND.load(Ordering::SeqCst)
}

#[test]
fn a_secret_and_its_clones_leave_no_plaintext_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let token = "tok-7f3a9c1e5b2d8f4a6c0e";
    let left = freed_copies(token, || {
        let secret = Secret::new(String::from(token));
        let clones: Vec<Secret> = (0..16).map(|_| secret.clone()).collect();
        assert!(clones.iter().all(|c| c.expose() == token));
        drop(clones);
        drop(secret);
    });
    assert_eq!(left, 0, "freed blocks still holding the token");
}

#[test]
fn a_secret_read_from_a_file_leaves_no_plaintext_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let token = "file-tok-2b7d9e4c1a6f3e8d";
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("token");
    std::fs::write(&path, format!("{token}\n")).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let left = freed_copies(token, || {
        let secret = Secret::from_file(&path).expect("read");
        assert_eq!(secret.expose(), token);
        drop(secret);
    });
    assert_eq!(left, 0, "freed blocks still holding the token read from the file");
}

/// Signing a bearer token (feature `jwt`): what of the shared secret is left behind. The
/// SDK's own copy is wiped; the shared secret's copy inside `jsonwebtoken::EncodingKey`,
/// made for each signature, is the dependency's and is not: counted here (measured: one),
/// so that a change shows. (`jsonwebtoken` also frees the signing input and the signature
/// unwiped: pieces of the token, out of the SDK's reach.)
#[test]
fn a_signed_token_leaves_only_the_dependencys_key_copy_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let shared = "shared-secret-9d4e2a7c5b1f";
    let signer = codex_driver::attach::SignedBearerToken::new(Secret::new(String::from(shared)));
    let left = freed_copies(shared, || {
        let token = signer.mint().expect("mint");
        assert!(token.expose().starts_with("eyJ"));
        drop(token);
    });
    assert_eq!(left, 1, "freed blocks holding the shared secret: jsonwebtoken's EncodingKey only");
    drop(signer);
}
