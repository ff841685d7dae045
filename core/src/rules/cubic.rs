//! The cubic solver shared by the rules whose step is a root of a cubic.

use crate::scalar::{abs, Real};

use super::nonneg_finite;

/// Newton iterations of the cubic solver (it converges in a handful; the
/// cap only bounds the work).
const CUBIC_ITERS: usize = 64;

/// The root in `(0, 1]` of `h(x) = c₃x³ + c₂x² + x − 1` for `c₂, c₃ ≥ 0`
/// (`h(0) = −1`, `h(1) = c₂ + c₃ ≥ 0`). `h` is convex and increasing on
/// `x ≥ 0` with `h' ≥ 1`, so Newton from `x = 1` decreases monotonically to
/// the root; a bisection safeguard keeps it in the bracket under rounding.
/// At most [`CUBIC_ITERS`] iterations, deterministic. `None` when a
/// coefficient is negative or not finite.
pub(super) fn unit_cubic_root<T: Real>(c2: T, c3: T) -> Option<T> {
    if !(nonneg_finite(c2) && nonneg_finite(c3)) {
        return None;
    }
    let one = T::one();
    let (mut lo, mut hi) = (T::zero(), one);
    let mut x = one;
    for _ in 0..CUBIC_ITERS {
        let hx = ((c3 * x + c2) * x + one) * x - one;
        if hx > T::zero() {
            hi = x;
        } else if hx < T::zero() {
            lo = x;
        } else {
            return Some(x);
        }
        let dh = (T::of(3.0) * c3 * x + c2 + c2) * x + one;
        let newton = x - hx / dh;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            T::of(0.5) * (lo + hi)
        };
        let moved = abs(next - x);
        x = next;
        if moved <= T::of(2.0) * T::EPSILON * x {
            break;
        }
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::unit_cubic_root;

    #[test]
    fn roots_solve_the_cubic_and_bad_coefficients_are_refused() {
        assert_eq!(unit_cubic_root(0.0_f64, 0.0), Some(1.0));
        for (c2, c3) in [(1.0_f64, 0.0), (0.0, 1.0), (3.0, 2.0), (1e6, 1e9)] {
            let x = unit_cubic_root(c2, c3).unwrap();
            assert!(x > 0.0 && x <= 1.0);
            let h = ((c3 * x + c2) * x + 1.0) * x - 1.0;
            assert!(h.abs() <= 1e-12, "h({x}) = {h} for c2 = {c2}, c3 = {c3}");
        }
        assert_eq!(unit_cubic_root(-1.0_f64, 0.0), None);
        assert_eq!(unit_cubic_root(0.0_f64, f64::NAN), None);
    }
}
