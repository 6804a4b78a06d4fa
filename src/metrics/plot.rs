//! The learning-curve PNG: reward and efficiency per episode with moving
//! averages, drawn with plotters and a font shipped in assets/.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::EpisodeRow;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    let mut sum = 0.0;
    for (i, v) in values.iter().enumerate() {
        sum += v;
        if i >= window {
            sum -= values[i - window];
        }
        out.push(sum / (i + 1).min(window) as f64);
    }
    out
}

/// Draws reward per episode and efficiency (completions per step), raw and
/// smoothed, into a PNG.
pub fn plot_learning_curve(path: &Path, title: &str, rows: &[EpisodeRow]) -> Result<(), String> {
    // Registering twice is harmless; the error type only says the font is bad.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(320);
    let window = (rows.len() / 40).max(5);
    let xs: Vec<f64> = rows.iter().map(|r| r.episode as f64).collect();
    let x_max = xs.last().copied().unwrap_or(1.0).max(1.0);
    for (area, name, values) in [
        (&top, "reward per episode", rows.iter().map(|r| r.reward).collect::<Vec<_>>()),
        (&bottom, "efficiency (completions per step)", rows.iter().map(|r| r.efficiency).collect()),
    ] {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(lo + 1e-6);
        let caption = if name.starts_with("reward") { format!("{title}: {name}") } else { name.to_string() };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, lo..hi + (hi - lo) * 0.05)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc("episode").label_style(("sans-serif", 13)).draw().map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(xs.iter().copied().zip(values.iter().copied()), RGBColor(170, 190, 230)))
            .map_err(|e| e.to_string())?;
        let smooth = moving_average(&values, window);
        chart
            .draw_series(LineSeries::new(xs.iter().copied().zip(smooth), BLUE.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("moving average ({window})"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn moving_average_smooths() {
        assert_eq!(super::moving_average(&[1.0, 3.0, 5.0, 7.0], 2), vec![1.0, 2.0, 4.0, 6.0]);
    }
}
