//! SVG line charts for the backtest report, drawn without a plotting crate.
//!
//! [`line_chart`] draws named series against a UTC time axis (x in ms since
//! the epoch) as one standalone SVG document: the report saves it as
//! `equity.svg`, `drawdown.svg`, ... and inlines it into its HTML page (the
//! SVG uses no element ids, so several charts can share a page). Ticks fall
//! on round values: 1, 2 or 5 x 10^k on the y axis; whole minutes, hours,
//! days, months or years on the x axis. A long series is cut down to the
//! lowest and highest point of each pixel column, which looks the same and
//! keeps a file of millions of samples to a few tens of kilobytes. Non-finite
//! values are left out and break their line. The bytes depend on the input
//! alone: fixed decimals, no hashing, no clock.

use std::fmt::Write as _;
use std::iter::successors;

/// One named line.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Shown in the legend.
    pub name: &'a str,
    /// (x, y) points in x order; x is milliseconds since the Unix epoch.
    pub points: &'a [(f64, f64)],
}

/// How the y axis is labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YFormat {
    /// The value as it is: `1250.5`.
    Plain,
    /// y is a fraction, labelled as a percentage: `0.125` is `12.5%`.
    Percent,
}

/// Line colours, taken in turn by the series (Tableau 10).
const PALETTE: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
/// Most pixel columns a long line is sampled at, two points each.
const MAX_COLUMNS: f64 = 1000.0;
/// Lines at most this long are drawn point for point.
const MAX_EXACT: usize = 2000;
/// Most ticks on an axis.
const MAX_TICKS: usize = 8;
/// Smallest document drawn; below it the labels would overlap.
const MIN_WIDTH: u32 = 240;
/// See [`MIN_WIDTH`].
const MIN_HEIGHT: u32 = 160;
/// Smallest plot area height, kept when a long legend needs room.
const MIN_PLOT_HEIGHT: f64 = 60.0;
/// Room above the plot, for the title.
const TOP: f64 = 36.0;
/// Room right of the plot, for half of the last x label.
const RIGHT: f64 = 40.0;
/// Room below the plot for the x labels, before the legend rows.
const AXIS_BOTTOM: f64 = 30.0;
/// Height of one legend row.
const LEGEND_ROW: f64 = 18.0;
/// Rough width of a character at the 12 px font, for layout.
const CHAR_WIDTH: f64 = 7.0;
/// Largest |y| drawn: beyond it, differences of values could overflow.
const MAX_ABS_Y: f64 = 1e300;
/// Largest |x| drawn (about 270,000 years from 1970), which keeps the
/// calendar arithmetic in range.
const MAX_ABS_MS: f64 = 8.64e15;
/// Shortest x span: shorter data is centred in it, so minute ticks still fit.
const MIN_SPAN_MS: f64 = 5.0 * MINUTE_MS as f64;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A line chart of `series` against time, as a standalone SVG document of
/// `width` x `height` pixels (at least 240 x 160, and taller when a long
/// legend needs the room).
///
/// The y axis spans every finite value of every series; points with a
/// non-finite x or y are left out and break their line; with no points at
/// all, the chart says "no data".
pub fn line_chart(
    title: &str,
    y_label: &str,
    y_format: YFormat,
    series: &[Series<'_>],
    width: u32,
    height: u32,
) -> String {
    let data = extent(series);
    let y_ticks = data.map(|e| y_ticks(e.y_lo, e.y_hi, y_format));
    let y_labels: Vec<(f64, String)> =
        y_ticks.iter().flat_map(|t| t.values.iter().map(|&v| (v, y_tick_label(v, t.exponent, y_format)))).collect();
    let width = f64::from(width.max(MIN_WIDTH));
    let widest = y_labels.iter().map(|(_, l)| text_width(l)).fold(0.0, f64::max);
    let left = (widest + 36.0).clamp(48.0, width / 3.0);
    let legend = legend_layout(series, left, width - RIGHT);
    let rows = legend.iter().map(|&(_, row)| row + 1).max().unwrap_or(0);
    let below = AXIS_BOTTOM + rows as f64 * LEGEND_ROW + 8.0;
    let height = f64::from(height.max(MIN_HEIGHT)).max(TOP + MIN_PLOT_HEIGHT + below);
    let (x_lo, x_hi) = data.map_or((0.0, 1.0), |e| x_range(e.x_lo, e.x_hi));
    let (y_lo, y_hi) =
        y_ticks.as_ref().and_then(|t| Some((*t.values.first()?, *t.values.last()?))).unwrap_or((0.0, 1.0));
    let plot = Plot { left, top: TOP, right: width - RIGHT, bottom: height - below, x_lo, x_hi, y_lo, y_hi };

    let mut out = String::with_capacity(16 * 1024);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<rect width=\"{width:.0}\" height=\"{height:.0}\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        width / 2.0,
        escape(title)
    );
    write_y_axis(&mut out, &plot, &y_labels, y_label);
    if data.is_some() {
        write_x_axis(&mut out, &plot);
        for (s, colour) in series.iter().zip(PALETTE.iter().cycle()) {
            write_series(&mut out, &plot, s.points, colour);
        }
    } else {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#888888\">no data</text>",
            (plot.left + plot.right) / 2.0,
            (plot.top + plot.bottom) / 2.0
        );
    }
    write_legend(&mut out, series, &legend, plot.bottom + AXIS_BOTTOM);
    out.push_str("</svg>\n");
    out
}

/// Where the plot area lies (pixels) and the values its edges stand for.
struct Plot {
    left: f64,
    top: f64,
    right: f64,
    bottom: f64,
    x_lo: f64,
    x_hi: f64,
    y_lo: f64,
    y_hi: f64,
}

impl Plot {
    fn x(&self, v: f64) -> f64 {
        self.left + fraction(v, self.x_lo, self.x_hi) * (self.right - self.left)
    }

    fn y(&self, v: f64) -> f64 {
        self.bottom - fraction(v, self.y_lo, self.y_hi) * (self.bottom - self.top)
    }

    /// The pixel column of `x` among `columns`, to group points by.
    fn column(&self, x: f64, columns: f64) -> i64 {
        (fraction(x, self.x_lo, self.x_hi) * columns).floor().min(columns - 1.0) as i64
    }
}

/// Where `v` lies between `lo` and `hi`; the middle for an empty range, so
/// no coordinate is ever NaN.
fn fraction(v: f64, lo: f64, hi: f64) -> f64 {
    let f = (v - lo) / (hi - lo);
    if f.is_finite() { f } else { 0.5 }
}

/// The smallest box holding every drawable point.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Extent {
    x_lo: f64,
    x_hi: f64,
    y_lo: f64,
    y_hi: f64,
}

fn drawable(&(x, y): &(f64, f64)) -> bool {
    x.is_finite() && x.abs() <= MAX_ABS_MS && y.is_finite() && y.abs() <= MAX_ABS_Y
}

fn extent(series: &[Series<'_>]) -> Option<Extent> {
    series.iter().flat_map(|s| s.points).filter(|p| drawable(p)).fold(None, |acc, &(x, y)| {
        let e = acc.unwrap_or(Extent { x_lo: x, x_hi: x, y_lo: y, y_hi: y });
        Some(Extent { x_lo: e.x_lo.min(x), x_hi: e.x_hi.max(x), y_lo: e.y_lo.min(y), y_hi: e.y_hi.max(y) })
    })
}

/// The x range: the data's, widened about its middle to [`MIN_SPAN_MS`].
fn x_range(lo: f64, hi: f64) -> (f64, f64) {
    let pad = ((MIN_SPAN_MS - (hi - lo)) / 2.0).max(0.0);
    (lo - pad, hi + pad)
}

/// Y tick values, `step = m x 10^exponent`, whose exponent sets the decimals
/// of the labels.
#[derive(Debug, Clone, PartialEq)]
struct YTicks {
    values: Vec<f64>,
    exponent: i32,
}

/// Ticks for data in `[min, max]`, padded by 5% so no line runs along the
/// frame, though not across zero (a drawdown axis ends at 0%). A flat series
/// (all values equal, up to rounding) gets a band of 10% either side, or a
/// fixed one around zero.
fn y_ticks(min: f64, max: f64, format: YFormat) -> YTicks {
    let scale = min.abs().max(max.abs());
    if max - min > scale * 1e-9 {
        let pad = (max - min) * 0.05;
        let lo = if min >= 0.0 { (min - pad).max(0.0) } else { min - pad };
        let hi = if max <= 0.0 { (max + pad).min(0.0) } else { max + pad };
        return nice_ticks(lo, hi);
    }
    let pad = if scale > 0.0 {
        scale * 0.1
    } else if format == YFormat::Percent {
        0.01
    } else {
        1.0
    };
    nice_ticks(min - pad, max + pad)
}

/// The multiples of the smallest 1, 2 or 5 x 10^k step that cover
/// `[lo, hi]` with at most [`MAX_TICKS`] ticks (so at least four).
fn nice_ticks(lo: f64, hi: f64) -> YTicks {
    let first = ((hi - lo).log10().floor() as i32).clamp(-400, 400) - 1;
    for exponent in first..first + 3 {
        for mult in [1.0, 2.0, 5.0] {
            let step = mult * 10f64.powi(exponent);
            let (a, b) = ((lo / step).floor(), (hi / step).ceil());
            if b - a < MAX_TICKS as f64 {
                return YTicks { values: (a as i64..=b as i64).map(|i| i as f64 * step).collect(), exponent };
            }
        }
    }
    YTicks { values: vec![lo, hi], exponent: first }
}

fn y_tick_label(v: f64, exponent: i32, format: YFormat) -> String {
    let decimals = |e: i32| usize::try_from(-e).unwrap_or(0).min(17);
    match format {
        YFormat::Plain => format!("{:.*}", decimals(exponent), v),
        YFormat::Percent => format!("{:.*}%", decimals(exponent + 2), v * 100.0),
    }
}

/// A spacing of time ticks: a fixed number of ms, or whole months counted
/// from year 0 (so 12 puts ticks on New Year's days, 60 on years divisible by 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeStep {
    Millis(i64),
    Months(i64),
}

/// Steps for spans up to two days, labelled with times.
const SHORT_STEPS: [TimeStep; 12] = [
    TimeStep::Millis(MINUTE_MS),
    TimeStep::Millis(2 * MINUTE_MS),
    TimeStep::Millis(5 * MINUTE_MS),
    TimeStep::Millis(10 * MINUTE_MS),
    TimeStep::Millis(15 * MINUTE_MS),
    TimeStep::Millis(30 * MINUTE_MS),
    TimeStep::Millis(HOUR_MS),
    TimeStep::Millis(2 * HOUR_MS),
    TimeStep::Millis(3 * HOUR_MS),
    TimeStep::Millis(6 * HOUR_MS),
    TimeStep::Millis(12 * HOUR_MS),
    TimeStep::Millis(DAY_MS),
];

/// Steps for longer spans, labelled with dates, up to 100,000 years.
const LONG_STEPS: [TimeStep; 26] = [
    TimeStep::Millis(DAY_MS),
    TimeStep::Millis(2 * DAY_MS),
    TimeStep::Millis(7 * DAY_MS),
    TimeStep::Millis(14 * DAY_MS),
    TimeStep::Months(1),
    TimeStep::Months(2),
    TimeStep::Months(3),
    TimeStep::Months(6),
    TimeStep::Months(12),
    TimeStep::Months(24),
    TimeStep::Months(60),
    TimeStep::Months(120),
    TimeStep::Months(240),
    TimeStep::Months(600),
    TimeStep::Months(1200),
    TimeStep::Months(2400),
    TimeStep::Months(6000),
    TimeStep::Months(12_000),
    TimeStep::Months(24_000),
    TimeStep::Months(60_000),
    TimeStep::Months(120_000),
    TimeStep::Months(240_000),
    TimeStep::Months(600_000),
    TimeStep::Months(1_200_000),
    TimeStep::Months(2_400_000),
    TimeStep::Months(6_000_000),
];

/// X tick times (ms), and whether they are labelled as dates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TimeTicks {
    values: Vec<i64>,
    dates: bool,
}

/// Ticks at the smallest step that puts at most [`MAX_TICKS`] in `[lo, hi]`;
/// dates when the span is over two days, else times of day.
fn time_ticks(lo: f64, hi: f64) -> TimeTicks {
    let dates = hi - lo > 2.0 * DAY_MS as f64;
    let steps: &[TimeStep] = if dates { &LONG_STEPS } else { &SHORT_STEPS };
    let (lo, hi) = (lo.ceil() as i64, hi.floor() as i64);
    let values = steps.iter().find_map(|&step| ticks_every(step, lo, hi)).unwrap_or_default();
    TimeTicks { values, dates }
}

/// The times on `step` in `[lo, hi]`, or `None` if there are too many.
fn ticks_every(step: TimeStep, lo: i64, hi: i64) -> Option<Vec<i64>> {
    let ticks: Vec<i64> = match step {
        TimeStep::Millis(ms) => successors(Some(ceil_multiple(lo, ms)), |t| t.checked_add(ms))
            .take_while(|&t| t <= hi)
            .take(MAX_TICKS + 1)
            .collect(),
        TimeStep::Months(n) => successors(Some(ceil_multiple(month_index(lo), n)), |m| m.checked_add(n))
            .map(month_start_ms)
            .skip_while(|&t| t < lo)
            .take_while(|&t| t <= hi)
            .take(MAX_TICKS + 1)
            .collect(),
    };
    (ticks.len() <= MAX_TICKS).then_some(ticks)
}

/// The smallest multiple of `n` (> 0) not below `v`.
fn ceil_multiple(v: i64, n: i64) -> i64 {
    v.div_euclid(n) * n + if v.rem_euclid(n) == 0 { 0 } else { n }
}

/// Months from January of year 0 to the month holding `ms`.
fn month_index(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(DAY_MS));
    y * 12 + m - 1
}

fn month_start_ms(index: i64) -> i64 {
    days_from_civil(index.div_euclid(12), index.rem_euclid(12) + 1, 1) * DAY_MS
}

/// `YYYY-MM-DD` for dates, `MM-DD HH:MM` for times, in UTC.
fn time_label(ms: i64, dates: bool) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let of_day = ms.rem_euclid(DAY_MS);
    if dates {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{m:02}-{d:02} {:02}:{:02}", of_day / HOUR_MS, of_day % HOUR_MS / MINUTE_MS)
    }
}

/// (year, month 1-12, day 1-31) of the proleptic Gregorian calendar, `days`
/// after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (era * 400 + yoe + i64::from(m <= 2), m, d)
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * if m > 2 { m - 3 } else { m + 9 } + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Grid lines and labels of the y ticks, the frame, and the axis title.
fn write_y_axis(out: &mut String, plot: &Plot, labels: &[(f64, String)], title: &str) {
    for (v, label) in labels {
        let y = plot.y(*v);
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>",
            plot.left, plot.right
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            plot.left - 6.0,
            y + 4.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444444\"/>",
        plot.left,
        plot.top,
        plot.right - plot.left,
        plot.bottom - plot.top
    );
    let _ = writeln!(
        out,
        "<text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (plot.top + plot.bottom) / 2.0,
        escape(title)
    );
}

/// Tick marks and UTC labels under the plot.
fn write_x_axis(out: &mut String, plot: &Plot) {
    let ticks = time_ticks(plot.x_lo, plot.x_hi);
    for &t in &ticks.values {
        let x = plot.x(t as f64);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#444444\"/>",
            plot.bottom,
            plot.bottom + 4.0
        );
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            plot.bottom + 18.0,
            time_label(t, ticks.dates)
        );
    }
}

/// One series: a polyline per unbroken run, a dot for a lone point.
fn write_series(out: &mut String, plot: &Plot, points: &[(f64, f64)], colour: &str) {
    let columns = (plot.right - plot.left).round().clamp(1.0, MAX_COLUMNS);
    let exact = points.len() <= MAX_EXACT;
    let runs = sample(points, |i, x| if exact { i as i64 } else { plot.column(x, columns) });
    for run in &runs {
        if let [(x, y)] = run.as_slice() {
            let _ =
                writeln!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{colour}\"/>", plot.x(*x), plot.y(*y));
            continue;
        }
        out.push_str("<polyline fill=\"none\" stroke=\"");
        out.push_str(colour);
        out.push_str("\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"");
        for (i, (x, y)) in run.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{:.1},{:.1}", plot.x(*x), plot.y(*y));
        }
        out.push_str("\"/>\n");
    }
}

/// The lowest and highest point of a bucket, first seen first on ties.
struct Bucket {
    key: i64,
    low: (f64, f64),
    high: (f64, f64),
}

impl Bucket {
    fn add(&mut self, p: (f64, f64)) {
        if p.1 < self.low.1 {
            self.low = p;
        }
        if p.1 > self.high.1 {
            self.high = p;
        }
    }

    /// Appends the kept points in x order.
    fn flush(self, run: &mut Vec<(f64, f64)>) {
        let (a, b) = if self.low.0 <= self.high.0 { (self.low, self.high) } else { (self.high, self.low) };
        run.push(a);
        if b != a {
            run.push(b);
        }
    }
}

/// Splits `points` into unbroken runs of drawable points, keeping the lowest
/// and highest of each group of consecutive points with the same `key(index,
/// x)`. A gap inside a group is bridged: it is narrower than a pixel, and
/// honouring it could give a line per point.
fn sample(points: &[(f64, f64)], key: impl Fn(usize, f64) -> i64) -> Vec<Vec<(f64, f64)>> {
    let (mut runs, mut run) = (Vec::new(), Vec::new());
    let (mut bucket, mut gap) = (None::<Bucket>, false);
    for (i, &p) in points.iter().enumerate() {
        if !drawable(&p) {
            gap = true;
            continue;
        }
        let k = key(i, p.0);
        match bucket.as_mut() {
            Some(b) if b.key == k => b.add(p),
            _ => {
                if let Some(b) = bucket.take() {
                    b.flush(&mut run);
                }
                if gap && !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
                bucket = Some(Bucket { key: k, low: p, high: p });
            }
        }
        gap = false;
    }
    if let Some(b) = bucket {
        b.flush(&mut run);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Legend entries as (x, row): left to right from `left`, wrapped before `right`.
fn legend_layout(series: &[Series<'_>], left: f64, right: f64) -> Vec<(f64, usize)> {
    let mut x = left;
    let mut row = 0;
    series
        .iter()
        .map(|s| {
            let w = 28.0 + text_width(s.name) + 18.0;
            if x + w > right && x > left {
                x = left;
                row += 1;
            }
            let at = (x, row);
            x += w;
            at
        })
        .collect()
}

/// A swatch and the name of every series, rows starting at `top`.
fn write_legend(out: &mut String, series: &[Series<'_>], layout: &[(f64, usize)], top: f64) {
    for ((s, &(x, row)), colour) in series.iter().zip(layout).zip(PALETTE.iter().cycle()) {
        let y = top + row as f64 * LEGEND_ROW + 8.0;
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/>",
            x + 22.0
        );
        let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x + 28.0, y + 4.0, escape(s.name));
    }
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

/// `text` safe inside an element or a quoted attribute; control characters
/// that XML forbids are dropped, since one would make the whole file unreadable.
pub(crate) fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\t' | '\n' | '\r' => s.push(' '),
            c if c.is_control() => {}
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUG_14_2022: i64 = 1_660_435_200_000;

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" "), "{svg}");
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        let closing = svg.matches("</").count();
        let self_closing = svg.matches("/>").count();
        assert_eq!(svg.matches('<').count(), 2 * closing + self_closing);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    fn chart(series: &[Series<'_>]) -> String {
        line_chart("Equity", "quote", YFormat::Plain, series, 800, 400)
    }

    fn polylines(svg: &str) -> Vec<usize> {
        svg.lines()
            .filter(|l| l.starts_with("<polyline"))
            .map(|l| l.split("points=\"").nth(1).unwrap().split(' ').count())
            .collect()
    }

    fn hourly(n: usize, f: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| ((AUG_14_2022 + i as i64 * HOUR_MS) as f64, f(i))).collect()
    }

    #[test]
    fn dates_of_known_days() {
        assert_eq!(time_label(AUG_14_2022, true), "2022-08-14");
        assert_eq!(time_label(0, true), "1970-01-01");
        assert_eq!(time_label(-1, false), "12-31 23:59");
        assert_eq!(time_label(-1, true), "1969-12-31");
        assert_eq!(days_from_civil(2024, 2, 29) * DAY_MS, 1_709_164_800_000);
        assert_eq!(time_label(1_709_164_800_000 + 86_399_999, true), "2024-02-29");
        assert_eq!(time_label(1_709_164_800_000 + DAY_MS, true), "2024-03-01");
        assert_eq!(time_label(days_from_civil(2000, 2, 29) * DAY_MS, true), "2000-02-29");
        assert_eq!(time_label(days_from_civil(2100, 3, 1) * DAY_MS - 1, true), "2100-02-28");
        assert_eq!(time_label(AUG_14_2022 + 13 * HOUR_MS + 30 * MINUTE_MS + 59_999, false), "08-14 13:30");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in (-1_000_000..1_000_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn nice_ticks_of_some_ranges() {
        let t = nice_ticks(0.0, 1.0);
        assert_eq!(t.exponent, -1);
        assert_eq!(t.values.len(), 6);
        assert!((t.values[1] - 0.2).abs() < 1e-12 && (t.values[5] - 1.0).abs() < 1e-12);
        assert_eq!(nice_ticks(0.0, 100.0).values, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(nice_ticks(-3.0, 7.0).values, vec![-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(
            nice_ticks(9_500.0, 10_700.0).values,
            vec![9_400.0, 9_600.0, 9_800.0, 10_000.0, 10_200.0, 10_400.0, 10_600.0, 10_800.0]
        );
        for (lo, hi) in [(0.0, 1e-7), (-0.3, -0.01), (1e6, 1e6 + 3.0), (-5e9, 7e12), (0.999, 1.001)] {
            let t = nice_ticks(lo, hi);
            assert!((4..=MAX_TICKS).contains(&t.values.len()), "{lo} {hi}: {t:?}");
            assert!(t.values[0] <= lo && *t.values.last().unwrap() >= hi, "{lo} {hi}: {t:?}");
        }
    }

    #[test]
    fn y_labels_have_the_decimals_of_the_step() {
        assert_eq!(y_tick_label(0.125, -3, YFormat::Percent), "12.5%");
        assert_eq!(y_tick_label(-0.2, -1, YFormat::Percent), "-20%");
        assert_eq!(y_tick_label(10_200.0, 2, YFormat::Plain), "10200");
        assert_eq!(y_tick_label(0.3, -1, YFormat::Plain), "0.3");
        let drawdown = y_ticks(-0.137, 0.0, YFormat::Percent);
        assert_eq!(drawdown.values.last(), Some(&0.0));
        assert!(drawdown.values.first().is_some_and(|&v| v < -0.137));
        let flat = y_ticks(0.0, 0.0, YFormat::Percent);
        let labels: Vec<_> = flat.values.iter().map(|&v| y_tick_label(v, flat.exponent, YFormat::Percent)).collect();
        assert_eq!(labels, ["-1.0%", "-0.5%", "0.0%", "0.5%", "1.0%"]);
    }

    #[test]
    fn time_ticks_fit_the_span() {
        let day = DAY_MS as f64;
        let t0 = AUG_14_2022 as f64;
        let month = time_ticks(t0, t0 + 30.0 * day);
        assert!(month.dates && (3..=MAX_TICKS).contains(&month.values.len()), "{month:?}");
        let hours = time_ticks(t0 + 1_000.0, t0 + 6.0 * HOUR_MS as f64);
        assert!(!hours.dates);
        let labels: Vec<_> = hours.values.iter().map(|&t| time_label(t, false)).collect();
        assert_eq!(labels, ["08-14 01:00", "08-14 02:00", "08-14 03:00", "08-14 04:00", "08-14 05:00", "08-14 06:00"]);
        let years = time_ticks(t0, t0 + 3.0 * 365.0 * day);
        let labels: Vec<_> = years.values.iter().map(|&t| time_label(t, true)).collect();
        assert_eq!(labels, ["2023-01-01", "2023-07-01", "2024-01-01", "2024-07-01", "2025-01-01", "2025-07-01"]);
        for span in [5.0 * MINUTE_MS as f64, 2.0 * day, 2.5 * day, 400.0 * day, 1e15] {
            let t = time_ticks(-3e10, -3e10 + span);
            assert!((2..=MAX_TICKS).contains(&t.values.len()), "{span}: {t:?}");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b> & \"c\"\u{0}"), "a&lt;b&gt; &amp; &quot;c&quot;");
        let points = hourly(3, |i| i as f64);
        let svg =
            line_chart("<script>", "P&L \"x\"", YFormat::Plain, &[Series { name: "a>b", points: &points }], 600, 300);
        well_formed(&svg);
        assert!(svg.contains("&lt;script&gt;") && svg.contains("P&amp;L &quot;x&quot;") && svg.contains("a&gt;b"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn empty_input_says_no_data() {
        for svg in [chart(&[]), chart(&[Series { name: "equity", points: &[] }])] {
            well_formed(&svg);
            assert!(svg.contains(">no data</text>"));
            assert!(!svg.contains("<polyline"));
        }
        let svg = chart(&[Series { name: "equity", points: &[(0.0, f64::NAN), (f64::NAN, 1.0)] }]);
        well_formed(&svg);
        assert!(svg.contains(">no data</text>") && svg.contains(">equity</text>"));
    }

    #[test]
    fn flat_and_single_point_series_are_drawn() {
        let flat = hourly(50, |_| 10_000.0);
        let svg = chart(&[Series { name: "flat", points: &flat }]);
        well_formed(&svg);
        assert_eq!(polylines(&svg), vec![50]);
        assert!(svg.contains(">10000</text>"));
        let zero = hourly(50, |_| 0.0);
        well_formed(&line_chart("dd", "drawdown", YFormat::Percent, &[Series { name: "dd", points: &zero }], 800, 400));
        let one = [(AUG_14_2022 as f64, 5.0)];
        let svg = chart(&[Series { name: "one", points: &one }]);
        well_formed(&svg);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains(">08-14 00:00</text>"));
    }

    #[test]
    fn non_finite_values_break_the_line() {
        let points = hourly(20, |i| match i {
            5 => f64::NAN,
            12 => f64::INFINITY,
            13 => f64::NEG_INFINITY,
            _ => i as f64,
        });
        let svg = chart(&[Series { name: "gappy", points: &points }]);
        well_formed(&svg);
        assert_eq!(polylines(&svg), vec![5, 6, 6]);
        let lone = hourly(5, |i| if i == 2 { 1.0 } else { f64::NAN });
        let svg = chart(&[Series { name: "lone", points: &lone }]);
        well_formed(&svg);
        assert_eq!(svg.matches("<circle").count(), 1);
    }

    #[test]
    fn long_series_are_downsampled() {
        let points: Vec<(f64, f64)> = (0..500_000)
            .map(|i| ((AUG_14_2022 + i * MINUTE_MS) as f64, 1e4 + (i as f64 * 0.37).sin() * 50.0))
            .collect();
        let hold: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x, y * 1.01)).collect();
        let series = [Series { name: "strategy", points: &points }, Series { name: "buy and hold", points: &hold }];
        let svg = line_chart("Equity", "USDT", YFormat::Plain, &series, 1000, 400);
        well_formed(&svg);
        assert!(svg.len() < 150_000, "{} bytes", svg.len());
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|&n| n > 1000 && n <= 2 * MAX_COLUMNS as usize), "{lines:?}");
        let gappy: Vec<(f64, f64)> =
            points.iter().enumerate().map(|(i, &(x, y))| (x, if i % 2 == 0 { y } else { f64::NAN })).collect();
        let svg = chart(&[Series { name: "gappy", points: &gappy }]);
        well_formed(&svg);
        assert!(svg.len() < 150_000, "{} bytes", svg.len());
    }

    #[test]
    fn legend_names_every_series_in_its_own_colour() {
        let points = hourly(10, |i| i as f64);
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let series: Vec<_> = names.iter().map(|name| Series { name, points: &points }).collect();
        let svg = line_chart("t", "y", YFormat::Plain, &series, 300, 200);
        well_formed(&svg);
        for (name, colour) in names.iter().zip(PALETTE) {
            assert!(svg.contains(&format!(">{name}</text>")));
            assert_eq!(svg.matches(&format!("stroke=\"{colour}\"")).count(), 2, "{colour}");
        }
    }

    #[test]
    fn tiny_sizes_and_odd_values_stay_well_formed() {
        let points = [(1.0, 1e300), (2.0, -1e300), (3.0, 1e-310), (9e18, 1.0), (4.0, 0.0)];
        well_formed(&line_chart("", "", YFormat::Percent, &[Series { name: "", points: &points }], 0, 0));
        let long_name = "x".repeat(500);
        well_formed(&line_chart("t", "y", YFormat::Plain, &[Series { name: &long_name, points: &points }], 0, 0));
    }

    #[test]
    fn same_input_same_bytes() {
        let points = hourly(5_000, |i| (i as f64 * 0.1).cos());
        let series = [Series { name: "equity", points: &points }];
        let a = line_chart("Equity", "quote", YFormat::Percent, &series, 900, 300);
        assert_eq!(a, line_chart("Equity", "quote", YFormat::Percent, &series, 900, 300));
    }
}
