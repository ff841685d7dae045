//! The library example of README.md, compiled and run.
use overlin_core::{nalgebra::Const, *};

#[test]
fn readme_library_example() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng::new(7);
    let mut x = nalgebra::SMatrix::<f32, 8, 4>::zeros();
    data::gaussian_data(&mut x, &mut rng);
    let mut theta = nalgebra::SMatrix::<f32, 4, 4>::zeros();
    let mut y = nalgebra::SMatrix::<f32, 8, 4>::zeros();
    data::linear_targets(&x, &mut theta, &mut y, 0.5, 0.0, &mut rng)?;
    let net: Net<f32, 4, 16, 4> = Init::Gaussian {
        sigma: 5.0,
        std: 0.5,
    }
    .sample(Const::<4>, Const::<16>, Const::<4>, &mut rng)?;
    let mut trainer = Trainer::new(
        net,
        SquaredLoss::new(x, y)?,
        StepRule::Local,
        TrainerConfig::default(),
    )?;
    let mut steps = 0;
    let summary = trainer.run(&mut |r: &StepRecord<f32>| {
        steps += 1;
        r.cert.rho < 1.0
    });
    assert!(summary.tally.all_held());
    assert!(steps > 0);
    assert!(
        matches!(
            summary.status,
            Status::Converged | Status::Stalled | Status::MaxIters
        ),
        "{summary:?} after {steps}"
    );
    assert!(
        summary.final_gap < 1e-6 * summary.initial_gap,
        "{summary:?}"
    );
    Ok(())
}
