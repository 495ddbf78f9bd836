//! Medians and percentiles for the summary.

pub(crate) fn median(v: &mut [f64]) -> Option<f64> {
    percentile(v, 50.0)
}

pub(crate) fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v.get(i.min(v.len() - 1)).copied()
}

pub(crate) fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}"))
}
