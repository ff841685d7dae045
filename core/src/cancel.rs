//! Cooperative cancellation of long computations (an interrupt from the
//! user while a large problem is being set up or stepped).
//!
//! One process-wide flag rather than a parameter: the long loops sit deep
//! inside kernels (the Jacobi sweeps of the imbalance spectrum, Householder
//! QR, the iterative `W*` solves) that every loss and the trainer share, and
//! threading a callback through all of them would change every signature
//! for a concern that is the whole process's anyway (an interrupt stops
//! every computation). Polling is a relaxed atomic load, far below the cost
//! of the work between two polls; a program that never calls [`request`]
//! (the firmware, the tests) computes exactly the same bits as without it.
//!
//! What a cancelled computation returns is meaningless and must be thrown
//! away: kernels stop early and leave partial results (never a panic), and
//! the callers that can tell turn it into [`crate::ProblemError::Cancelled`]
//! ([`crate::Trainer::new`]) or [`crate::Status::Stopped`]
//! ([`crate::Trainer::step`], which then leaves the weights as they were or
//! ends after a finished update).

use core::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks every long computation of the process to stop at its next poll
/// (safe to call from a signal handler: one atomic store).
pub fn request() {
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Withdraws a request, so that later computations run to the end.
pub fn clear() {
    REQUESTED.store(false, Ordering::Relaxed);
}

/// `true` once [`request`] was called (and not [`clear`]ed since).
#[inline]
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
