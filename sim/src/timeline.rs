//! The trace as a self-contained HTML timeline (placeholder until the renderer lands).

/// Renders trace text (JSON lines) as HTML.
pub fn render(trace: &str, title: &str) -> String {
    format!(
        "<!doctype html><title>{title}</title><pre>{}</pre>",
        trace.len()
    )
}
