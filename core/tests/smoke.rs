#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
use overlin_core::nalgebra::{Const, Dyn, OMatrix};
use overlin_core::*;

#[test]
fn local_rule_converges_and_certifies_fixed_f64() {
    let mut rng = Rng::new(7);
    let mut x = OMatrix::<f64, Const<8>, Const<4>>::zeros();
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = OMatrix::<f64, Const<4>, Const<4>>::zeros();
    rng.fill_gaussian(&mut theta, 0.5);
    let y = x * theta;
    let loss = SquaredLoss::new(x, y).unwrap();
    let net: Net<f64, 4, 16, 4> = Init::Gaussian {
        sigma: 5.0,
        std: 0.5,
    }
    .sample(Const::<4>, Const::<16>, Const::<4>, &mut rng)
    .unwrap();
    let cfg = TrainerConfig {
        max_iters: 5000,
        tol: Tolerance::Relative(1e-10),
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
    let s = tr.run(&mut ());
    println!("{s:?}");
    assert_eq!(s.status, Status::Converged);
    assert_eq!(s.tally.violations, 0);
    assert!(s.tally.worst_ratio <= 1.0);
}

#[test]
fn dyn_matches_fixed_f32_bitwise() {
    let run_fixed = || {
        let mut rng = Rng::new(3);
        let mut x = OMatrix::<f32, Const<8>, Const<4>>::zeros();
        rng.fill_gaussian(&mut x, 1.0);
        let mut theta = OMatrix::<f32, Const<4>, Const<4>>::zeros();
        rng.fill_gaussian(&mut theta, 0.5);
        let y = x * theta;
        let net: Net<f32, 4, 16, 4> = Init::Gaussian {
            sigma: 1.0,
            std: 0.5,
        }
        .sample(Const::<4>, Const::<16>, Const::<4>, &mut rng)
        .unwrap();
        let mut tr = Trainer::new(
            net,
            SquaredLoss::new(x, y).unwrap(),
            StepRule::Local,
            TrainerConfig {
                max_iters: 50,
                ..Default::default()
            },
        )
        .unwrap();
        let mut v = Vec::new();
        tr.run(&mut |r: &StepRecord<f32>| {
            v.push((r.loss.to_bits(), r.eta.to_bits(), r.cert.rho.to_bits()));
            true
        });
        v
    };
    let run_dyn = || {
        let mut rng = Rng::new(3);
        let mut x = OMatrix::<f32, Dyn, Dyn>::zeros(8, 4);
        rng.fill_gaussian(&mut x, 1.0);
        let mut theta = OMatrix::<f32, Dyn, Dyn>::zeros(4, 4);
        rng.fill_gaussian(&mut theta, 0.5);
        let y = overlin_core::nalgebra::DMatrix::from_fn(8, 4, |i, j| {
            // same summation order as the fixed path: k ascending
            let mut s = 0.0f32;
            for k in 0..4 {
                s += x[(i, k)] * theta[(k, j)];
            }
            s
        });
        let net: DynNet<f32> = Init::Gaussian {
            sigma: 1.0,
            std: 0.5,
        }
        .sample(Dyn(4), Dyn(16), Dyn(4), &mut rng)
        .unwrap();
        let mut tr = Trainer::new(
            net,
            SquaredLoss::new(x, y).unwrap(),
            StepRule::Local,
            TrainerConfig {
                max_iters: 50,
                ..Default::default()
            },
        )
        .unwrap();
        let mut v = Vec::new();
        tr.run(&mut |r: &StepRecord<f32>| {
            v.push((r.loss.to_bits(), r.eta.to_bits(), r.cert.rho.to_bits()));
            true
        });
        v
    };
    let a = run_fixed();
    let b = run_dyn();
    assert_eq!(a.len(), 50);
    assert_eq!(a, b);
}

/// A step that rounding absorbs entirely (‖W₁‖ ≈ 1e30 against ‖W₂‖ ≈ 1:
/// `W − ηA` rounds back to `W`) leaves the gap where it was although the
/// certificate predicts a decrease. The iterate did not move, so this is
/// the precision floor: the run ends `Stalled`, and the step is not
/// counted as a violation of the certificate (which assumes the update is
/// carried out).
#[test]
fn step_absorbed_by_rounding_is_a_stall_not_a_violation() {
    let mut rng = Rng::new(11);
    let mut x = OMatrix::<f64, Const<6>, Const<2>>::zeros();
    rng.fill_gaussian(&mut x, 1.0);
    let mut theta = OMatrix::<f64, Const<2>, Const<2>>::zeros();
    rng.fill_gaussian(&mut theta, 1.0);
    let y = x * theta;
    let loss = SquaredLoss::new(x, y).unwrap();
    // W₁ = 2¹⁰⁰·[[1, 2, 3], [4, 5, 9]] and W₂ = z cᵀ with W₁z = 0 exactly:
    // P = W₁W₂ = 0, so the gap is O(1), while η ≈ 1/(K‖W₁‖²) is so small
    // that every entry of W₁ − ηA and W₂ − ηB rounds back to itself.
    let s = 2f64.powi(100);
    let w1 = OMatrix::<f64, Const<2>, Const<3>>::from_row_slice(&[
        s,
        2.0 * s,
        3.0 * s,
        4.0 * s,
        5.0 * s,
        9.0 * s,
    ]);
    let w2 = OMatrix::<f64, Const<3>, Const<2>>::from_row_slice(&[1.0, 2.0, 1.0, 2.0, -1.0, -2.0]);
    let net = TwoLayer::new(w1, w2).unwrap();
    let cfg = TrainerConfig {
        max_iters: 50,
        stall_window: 0,
        ..Default::default()
    };
    let mut tr = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
    let before = tr.net().clone();
    let mut records = 0;
    let s = tr.run(&mut |_: &StepRecord<f64>| {
        records += 1;
        true
    });
    println!("{s:?}");
    assert_eq!(s.tally.violations, 0, "{s:?}");
    assert_eq!(s.status, Status::Stalled, "{s:?}");
    assert_eq!(records, 0);
    assert_eq!(tr.net(), &before);
}

/// `Trainer::new_in` builds the same trainer as `Trainer::new` (the same
/// run, bit for bit), for fixed and run-time sizes, and refuses what `new`
/// refuses, leaving the slot empty.
#[test]
fn new_in_equals_new() {
    use core::mem::MaybeUninit;
    let problem = || {
        let mut rng = Rng::new(5);
        let mut x = OMatrix::<f64, Const<8>, Const<4>>::zeros();
        rng.fill_gaussian(&mut x, 1.0);
        let mut theta = OMatrix::<f64, Const<4>, Const<4>>::zeros();
        rng.fill_gaussian(&mut theta, 0.5);
        let y = x * theta;
        let net: Net<f64, 4, 16, 4> = Init::Gaussian {
            sigma: 2.0,
            std: 0.5,
        }
        .sample(Const::<4>, Const::<16>, Const::<4>, &mut rng)
        .unwrap();
        (net, SquaredLoss::new(x, y).unwrap())
    };
    let cfg = TrainerConfig {
        max_iters: 200,
        imbalance_every: 10,
        ..Default::default()
    };
    let (net, loss) = problem();
    let mut by_value = Trainer::new(net, loss, StepRule::Local, cfg).unwrap();
    let a = by_value.run(&mut ());
    let mut slot = Box::new(MaybeUninit::uninit());
    let (net, loss) = problem();
    let in_place = Trainer::new_in(&mut slot, net, loss, StepRule::Local, cfg).unwrap();
    let b = in_place.run(&mut ());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_eq!(by_value.net(), in_place.net());
    // Run-time sizes (heap buffers) and a refused configuration.
    let (net, loss) = problem();
    let dnet = TwoLayer::new(
        overlin_core::nalgebra::DMatrix::from_column_slice(4, 16, net.w1.as_slice()),
        overlin_core::nalgebra::DMatrix::from_column_slice(16, 4, net.w2.as_slice()),
    )
    .unwrap();
    let (x, y) = (*loss.x(), *loss.y());
    let dloss = || {
        SquaredLoss::new(
            overlin_core::nalgebra::DMatrix::from_column_slice(8, 4, x.as_slice()),
            overlin_core::nalgebra::DMatrix::from_column_slice(8, 4, y.as_slice()),
        )
        .unwrap()
    };
    let mut dslot = MaybeUninit::uninit();
    let d = Trainer::new_in(&mut dslot, dnet.clone(), dloss(), StepRule::Local, cfg).unwrap();
    let c = d.run(&mut ());
    assert_eq!(format!("{a:?}"), format!("{c:?}"));
    let bad = TrainerConfig {
        max_iters: 0,
        ..cfg
    };
    let mut eslot = MaybeUninit::uninit();
    assert!(Trainer::new_in(&mut eslot, dnet, dloss(), StepRule::Local, bad).is_err());
}
