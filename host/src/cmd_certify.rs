//! `overlin certify`: the a-priori certificate of THEORY §8 (`η̄, ρ̄, ᾱ,
//! β̄, T(ε)`) or why none exists, next to the exact local constants at the
//! start (THEORY §2–§5).

use crate::problem::{CertifyResult, ProblemSpec};
use crate::{exit, Error, Result};

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.6e}")).unwrap_or_else(|| "-".into())
}

/// The loss margin of THEORY §8.1 at the start: `p₀` and the gap it
/// needs, or how far the start is from having one.
fn margin_line(c: &CertifyResult) -> String {
    let k = &c.constants;
    let g = c.start.gap0;
    let mg = c.apriori.margin_gap;
    let head = format!(
        "  loss margin        sigma_min(W*)={:.6e}  needs L0 - L* < mu sigma_min(W*)^2/2 = {:.6e} (THEORY §8.1)\n",
        k.w_star_sigma_min, mg
    );
    let p0 = (k.w_star_sigma_min - (2.0 * g / k.mu).sqrt()).max(0.0);
    head + &if mg <= 0.0 {
        "                     none: W* is singular\n".to_string()
    } else if g < mg {
        format!(
            "                     p0 = sigma_min(W*) - sqrt(2(L0-L*)/mu) = {p0:.6e} > 0 (L0 - L* is {:.3} of the threshold)\n",
            g / mg
        )
    } else {
        format!(
            "                     none: L0 - L* = {g:.6e} is {:.3e} times the threshold; the loss must fall below it\n",
            g / mg
        )
    }
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
    if c.depth > 2 {
        // Every pair D_j = W_jᵀW_j − W_{j+1}W_{j+1}ᵀ (THEORY §13); neither
        // α_imb nor the loss margin of §8.1 bounds α_t at this depth.
        s += &format!(
            "  imbalances D_1..D_{}: max lambda_max={:.6e} max lambda_max(-D)={:.6e}\n",
            c.depth - 1,
            s0.lambda_max,
            s0.neg_lambda_max
        );
    } else {
        s += &format!(
            "  imbalance D0: lambda_max={:.6e} lambda_max(-D)={:.6e} alpha_imb={:.6e}\n",
            s0.lambda_max, s0.neg_lambda_max, s0.alpha_imb
        );
        s += &margin_line(c);
    }
    s += "\na-priori certificate (THEORY §8, margin §8.1)\n";
    if a.certified {
        s += &format!("  eta_bar            {}\n", opt(a.eta_bar));
        s += &format!("  rho_bar            {}\n", opt(a.rho_bar));
        s += &format!(
            "  alpha_bar          {}  = max(imbalance term, margin term), positive by: {}\n",
            opt(a.alpha_bar),
            a.alpha_source.as_deref().unwrap_or("-")
        );
        s += &format!(
            "    imbalance term   {}  alpha_imb(D0) - delta\n",
            opt(a.alpha_imbalance)
        );
        s += &format!(
            "    margin term      {}  c p0^2/beta_bar with c = {}, p0 = {}\n",
            opt(a.alpha_margin),
            a.margin_c,
            opt(a.p0)
        );
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
    let mut prep = None;
    let built = crate::problem::Problem::build_with(spec, &mut |s| {
        prep = Some(crate::cmd_run::preparing(s))
    });
    let c = built.and_then(|p| p.certify(tol));
    if let Some(s) = prep {
        s.finish_and_clear();
    }
    let c = c?;
    if json {
        let s = serde_json::to_string_pretty(&c)
            .map_err(|e| Error::Internal(format!("cannot serialize JSON: {e}")))?;
        println!("{s}");
    } else {
        print!("{}", format_certificate(&c));
    }
    Ok(exit::OK)
}
