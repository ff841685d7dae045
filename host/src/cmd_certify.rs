//! `overlin certify`: the a-priori certificate of THEORY §8 (`η̄, ρ̄, ᾱ,
//! β̄, T(ε)`) or why none exists, next to the exact local constants at the
//! start (THEORY §2–§5).

use crate::problem::{CertifyResult, ProblemSpec};
use crate::{exit, Error, Result};

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6e}")).unwrap_or_else(|| "-".into())
}

/// Human-readable certificate.
pub fn format_certificate(c: &CertifyResult) -> String {
    let z = c.sizes;
    let k = &c.constants;
    let s0 = &c.start;
    let a = &c.apriori;
    let mut s = String::new();
    s += &format!(
        "problem   n={} m={} h={} samples={}   mu={:.6e} K={:.6e} L*={:.6e} ||W*||_2={:.6e}\n",
        z.n, z.m, z.h, z.samples, k.mu, k.k, k.l_star, k.w_star_spec
    );
    if let Some(note) = &c.setting_note {
        s += &format!("note      {note}\n");
    }
    s += "\nexact local constants at the start (THEORY §2-§5)\n";
    s += &format!("  L0 - L*            {:.6e}\n", s0.gap0);
    s += &format!("  alpha0             {:.6e}\n", s0.alpha0);
    s += &format!("  beta0              {:.6e}\n", s0.beta0);
    s += &format!("  alpha0/beta0       {:.6e}\n", s0.alpha_over_beta);
    s += &format!("  ||G0||_2           {:.6e}\n", s0.grad_spec0);
    s += &format!("  mu0 = mu alpha0    {:.6e}\n", s0.mu0);
    s += &format!("  local step eta0    {:.6e}\n", s0.eta_local0);
    s += &format!("  K0(eta0)           {:.6e}\n", s0.k0);
    s += &format!("  rho0(eta0)         {:.6e}\n", s0.rho0);
    s += &format!(
        "  limit rate 1-(mu/K)(alpha0/beta0)  {:.6e}\n",
        s0.limit_rate0
    );
    s += &format!(
        "  imbalance D0: lambda_max={:.6e} lambda_max(-D)={:.6e} alpha_imb={:.6e}\n",
        s0.lambda_max, s0.neg_lambda_max, s0.alpha_imb
    );
    s += "\na-priori certificate (THEORY §8)\n";
    if a.certified {
        s += &format!("  eta_bar            {}\n", opt(a.eta_bar));
        s += &format!("  rho_bar            {}\n", opt(a.rho_bar));
        s += &format!("  alpha_bar          {}\n", opt(a.alpha_bar));
        s += &format!("  beta_bar           {}\n", opt(a.beta_bar));
        s += &format!("  K_bar              {}\n", opt(a.k_bar));
        s += &format!("  delta (drift)      {}\n", opt(a.delta));
        s += &format!(
            "  T(eps = {:.3e})    {}\n",
            a.tol,
            a.iterations_to_tol
                .map(|t| format!("{t} iterations guaranteed with steps eta_t = eta_bar (or min(local step, eta_bar))"))
                .unwrap_or_else(|| "-".into())
        );
    } else {
        s += &format!("  {}\n", a.reason.as_deref().unwrap_or("unknown"));
    }
    s
}

/// Runs `overlin certify`; returns the exit code (0 whether or not a
/// certificate exists: "no certificate" is an answer, not a failure).
pub fn certify(spec: &ProblemSpec, tol: f64, json: bool) -> Result<i32> {
    let c = crate::problem::certify(spec, tol)?;
    if json {
        let s = serde_json::to_string_pretty(&c)
            .map_err(|e| Error::Internal(format!("cannot serialize JSON: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", format_certificate(&c));
    }
    Ok(exit::OK)
}
