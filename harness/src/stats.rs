//! Statistics over per-repeat figures (one value per repeat, e.g. a hook's
//! median latency or ops/s): centre, dispersion, and Welch's t-test for
//! "is design B different from design A".
//!
//! Pure functions, no state. Degenerate input (empty slices, fewer than two
//! values, zero variance) gives `None` or a "not significant" result with a
//! reason, never NaN or a panic. NaN inputs are sorted by `f64::total_cmp`
//! (after every number) and otherwise propagate; callers pass measured
//! figures, which are never NaN.
//!
//! The special functions come from `statrs` (the t distribution's tail is
//! its regularized incomplete beta function, ln Γ its Lanczos
//! approximation); this module's tests check them against closed forms
//! and R's output, so a change of crate version that broke them would
//! fail here.

/// Arithmetic mean; `None` for no values.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Median (mean of the middle two for an even count); `None` for no values.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Sample variance (denominator n - 1); `None` for fewer than two values.
pub fn variance(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some(ss / (xs.len() - 1) as f64)
}

/// Sample standard deviation (denominator n - 1); `None` for fewer than
/// two values.
pub fn stddev(xs: &[f64]) -> Option<f64> {
    variance(xs).map(f64::sqrt)
}

/// Median absolute deviation from the median, unscaled (multiply by 1.4826
/// to estimate a normal sigma); `None` for no values.
pub fn mad(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// Relative dispersion, robust form: `100 * mad / |median|`, percent.
/// `None` for no values or a zero median.
pub fn rel_mad_pct(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    (m != 0.0).then(|| 100.0 * mad(xs).unwrap_or(0.0) / m.abs())
}

/// Relative dispersion, classical form (coefficient of variation):
/// `100 * stddev / |mean|`, percent. `None` for fewer than two values or a
/// zero mean.
pub fn rel_stddev_pct(xs: &[f64]) -> Option<f64> {
    let s = stddev(xs)?;
    let m = mean(xs)?;
    (m != 0.0).then(|| 100.0 * s / m.abs())
}

/// Outcome of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchResult {
    /// `(mean(a) - mean(b)) / sqrt(var(a)/n_a + var(b)/n_b)`; 0 when
    /// undefined.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom; 0 when undefined.
    pub df: f64,
    /// Two-sided p-value; 1 when undefined (never significant).
    pub p_two_sided: f64,
    /// Why the test could not be done, if it could not.
    pub undefined: Option<&'static str>,
}

impl WelchResult {
    fn undefined(why: &'static str) -> WelchResult {
        WelchResult {
            t: 0.0,
            df: 0.0,
            p_two_sided: 1.0,
            undefined: Some(why),
        }
    }
}

/// Welch's unequal-variance t-test of "a and b have the same mean".
///
/// Fewer than two values in either sample, or zero variance in both, leave
/// the test undefined: the result says why and reports p = 1.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> WelchResult {
    let (Some(va), Some(vb)) = (variance(a), variance(b)) else {
        return WelchResult::undefined("fewer than two values in a sample");
    };
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (sa, sb) = (va / na, vb / nb);
    let se2 = sa + sb;
    if se2.is_nan() || se2 <= 0.0 {
        return WelchResult::undefined("zero variance in both samples");
    }
    let diff = mean(a).unwrap_or(0.0) - mean(b).unwrap_or(0.0);
    let t = diff / se2.sqrt();
    let df = se2 * se2 / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
    WelchResult {
        t,
        df,
        p_two_sided: student_t_two_sided_p(t, df),
        undefined: None,
    }
}

/// Whether `p` rejects the null hypothesis at level `alpha` (e.g. 0.05).
/// A NaN p is not significant.
pub fn significant(p: f64, alpha: f64) -> bool {
    p < alpha
}

/// P(|T| >= |t|) for Student's t with `df` degrees of freedom:
/// `I_{df/(df+t^2)}(df/2, 1/2)`.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return 1.0;
    }
    if t.is_infinite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    reg_incomplete_beta(x, df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// The regularized incomplete beta function `I_x(a, b)`, for `a, b > 0`
/// and `x` in [0, 1] (`statrs::function::beta::beta_reg`). Arguments
/// outside that domain give NaN rather than a panic.
pub fn reg_incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    debug_assert!(a > 0.0 && b > 0.0, "I_x(a, b) needs a, b > 0: {a}, {b}");
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    statrs::function::beta::checked_beta_reg(a, b, x).unwrap_or(f64::NAN)
}

/// ln Γ(x) for x > 0 (`statrs::function::gamma::ln_gamma`).
pub fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol
    }

    macro_rules! assert_close {
        ($got:expr, $want:expr, $tol:expr) => {{
            let (g, w) = ($got, $want);
            assert!(
                close(g, w, $tol),
                "{} = {g}, want {w} ± {}",
                stringify!($got),
                $tol
            );
        }};
    }

    #[test]
    fn centre_and_spread_by_hand() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&xs), Some(5.0));
        assert_eq!(median(&xs), Some(4.5));
        // Sum of squares 32, n - 1 = 7.
        assert_close!(variance(&xs).unwrap(), 32.0 / 7.0, 1e-12);
        assert_close!(stddev(&xs).unwrap(), (32.0f64 / 7.0).sqrt(), 1e-12);
        // |x - 4.5| = 2.5 .5 .5 .5 .5 .5 2.5 4.5 -> median 0.5.
        assert_eq!(mad(&xs), Some(0.5));
        assert_close!(rel_mad_pct(&xs).unwrap(), 100.0 * 0.5 / 4.5, 1e-12);
        assert_close!(
            rel_stddev_pct(&xs).unwrap(),
            100.0 * (32.0f64 / 7.0).sqrt() / 5.0,
            1e-12
        );
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0), "odd count, unsorted");
    }

    #[test]
    fn degenerate_inputs_give_none() {
        assert_eq!(mean(&[]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[]), None);
        assert_eq!(variance(&[1.0]), None);
        assert_eq!(stddev(&[1.0]), None);
        assert_eq!(rel_stddev_pct(&[1.0]), None);
        assert_eq!(rel_mad_pct(&[0.0, 0.0]), None, "zero median");
        assert_eq!(rel_mad_pct(&[3.0, 3.0]), Some(0.0));
    }

    #[test]
    fn t_tail_matches_closed_forms() {
        use std::f64::consts::PI;
        for t in [0.1, 0.5, 1.0, 2.0, 3.5, 10.0, 100.0] {
            // df = 1 (Cauchy): P(|T| > t) = 1 - 2 atan(t) / pi.
            assert_close!(
                student_t_two_sided_p(t, 1.0),
                1.0 - 2.0 * f64::atan(t) / PI,
                1e-12
            );
            // df = 2: P(|T| > t) = 1 - t / sqrt(2 + t^2).
            assert_close!(
                student_t_two_sided_p(t, 2.0),
                1.0 - t / (2.0 + t * t).sqrt(),
                1e-12
            );
            // df = 3: 1 - (2/pi) (atan(t/sqrt3) + (t/sqrt3) / (1 + t^2/3)).
            let u = t / 3f64.sqrt();
            let p3 = 1.0 - 2.0 / PI * (u.atan() + u / (1.0 + u * u));
            assert_close!(student_t_two_sided_p(t, 3.0), p3, 1e-12);
            // df = 4: 1 - (3/4) (t / sqrt(w)) (1 - t^2 / (12 w)), w = 1 + t^2/4.
            let w = 1.0 + t * t / 4.0;
            let p4 = 1.0 - 0.75 * (t / w.sqrt()) * (1.0 - t * t / (12.0 * w));
            assert_close!(student_t_two_sided_p(t, 4.0), p4, 1e-12);
            // Symmetric in t.
            assert_eq!(
                student_t_two_sided_p(-t, 7.5),
                student_t_two_sided_p(t, 7.5)
            );
        }
        assert_eq!(student_t_two_sided_p(0.0, 5.0), 1.0);
        assert_eq!(student_t_two_sided_p(f64::INFINITY, 5.0), 0.0);
        // Large df tends to the normal: P(|Z| > 1.959964) = 0.05.
        assert_close!(student_t_two_sided_p(1.959_963_985, 1e9), 0.05, 1e-6);
    }

    #[test]
    fn incomplete_beta_identities() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1-x)^b.
        for x in [0.01, 0.2, 0.5, 0.77, 0.99] {
            assert_close!(reg_incomplete_beta(x, 1.0, 1.0), x, 1e-13);
            assert_close!(reg_incomplete_beta(x, 3.5, 1.0), f64::powf(x, 3.5), 1e-13);
            assert_close!(
                reg_incomplete_beta(x, 1.0, 2.5),
                1.0 - f64::powf(1.0 - x, 2.5),
                1e-13
            );
        }
        assert_close!(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-13);
        assert_close!(ln_gamma(10.0), 362_880f64.ln(), 1e-12);
    }

    #[test]
    fn welch_matches_r_sleep_example() {
        // R: t.test(extra ~ group, data = sleep) prints
        // t = -1.8608, df = 17.776, p-value = 0.07939.
        let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
        let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
        let r = welch_t_test(&g1, &g2);
        assert_eq!(r.undefined, None);
        assert_close!(r.t, -1.8608, 5e-5);
        assert_close!(r.df, 17.776, 5e-4);
        assert_close!(r.p_two_sided, 0.07939, 5e-6);
        assert!(!significant(r.p_two_sided, 0.05));
        // Swapping the samples flips t only.
        let s = welch_t_test(&g2, &g1);
        assert_eq!(s.t, -r.t);
        assert_eq!(s.p_two_sided, r.p_two_sided);
    }

    #[test]
    fn welch_by_hand() {
        // a: mean 2, var 1; b: mean 5, var 1; n = 3 each.
        // se^2 = 1/3 + 1/3, t = -3 / sqrt(2/3) = -3.674235, df = 4.
        let r = welch_t_test(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert_close!(r.t, -3.0 / (2.0f64 / 3.0).sqrt(), 1e-12);
        assert_close!(r.df, 4.0, 1e-12);
        // df = 4 closed form (see t_tail_matches_closed_forms).
        let t = r.t.abs();
        let w = 1.0 + t * t / 4.0;
        let p4 = 1.0 - 0.75 * (t / w.sqrt()) * (1.0 - t * t / (12.0 * w));
        assert_close!(r.p_two_sided, p4, 1e-12);
        assert!(significant(r.p_two_sided, 0.05), "p = {}", r.p_two_sided);
        // One constant sample: df = n - 1 of the other.
        let r = welch_t_test(&[5.0, 5.0, 5.0], &[1.0, 2.0, 3.0]);
        assert_close!(r.df, 2.0, 1e-12);
        assert_close!(r.t, 3.0 / (1.0f64 / 3.0).sqrt(), 1e-12);
    }

    #[test]
    fn welch_degenerate_is_not_significant() {
        for (a, b) in [
            (&[1.0][..], &[2.0, 3.0][..]),
            (&[][..], &[][..]),
            (&[4.0, 4.0][..], &[4.0, 4.0, 4.0][..]),
            (&[4.0, 4.0][..], &[9.0, 9.0][..]),
        ] {
            let r = welch_t_test(a, b);
            assert!(r.undefined.is_some(), "{a:?} vs {b:?}: {r:?}");
            assert_eq!(r.p_two_sided, 1.0);
            assert!(!r.t.is_nan() && !r.df.is_nan());
            assert!(!significant(r.p_two_sided, 0.05));
        }
        assert!(!significant(f64::NAN, 0.05));
    }

    proptest::proptest! {
        /// Any finite samples give a p-value in [0, 1], never NaN, and the
        /// test is symmetric in its arguments.
        #[test]
        fn welch_p_is_a_probability(
            a in proptest::collection::vec(-1e6f64..1e6, 0..12),
            b in proptest::collection::vec(-1e6f64..1e6, 0..12),
        ) {
            let r = welch_t_test(&a, &b);
            proptest::prop_assert!((0.0..=1.0).contains(&r.p_two_sided), "{:?}", r);
            proptest::prop_assert!(!r.t.is_nan() && !r.df.is_nan(), "{:?}", r);
            let s = welch_t_test(&b, &a);
            proptest::prop_assert_eq!(s.p_two_sided, r.p_two_sided);
        }
    }
}
