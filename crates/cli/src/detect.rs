//! `escalator detect`: scores a metric stream from a NAB-format CSV file with
//! exactly the detector the server runs, one row at a time in file order, so
//! each score uses only the rows before it. Reads files; never talks to a
//! server or a database.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use escalator_core::anomaly::{DEFAULT_SENSITIVITY, Detector, Method};
use escalator_core::duration::Duration;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct DetectArgs {
    /// Detection method.
    #[arg(long, value_enum, default_value_t = MethodName::Anomaly)]
    method: MethodName,
    /// For `anomaly`: a robust z-score; higher means fewer alerts.
    #[arg(long, default_value_t = DEFAULT_SENSITIVITY)]
    sensitivity: f64,
    /// For `threshold`: anomalous above this value.
    #[arg(long, allow_negative_numbers = true)]
    above: Option<f64>,
    /// For `threshold`: anomalous below this value.
    #[arg(long, allow_negative_numbers = true)]
    below: Option<f64>,
    /// For `threshold`: how long the condition must hold (e.g. 5m).
    #[arg(long = "for", value_parser = parse_duration, default_value = "0s")]
    for_: Duration,
    /// CSV with a `timestamp,value` header; timestamps such as
    /// `2014-04-10 07:15:00` are UTC.
    #[arg(long)]
    input: PathBuf,
    /// Where to write `timestamp,value,anomaly_score` (default: stdout).
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodName {
    /// Adapts to level and daily seasonality (the product method).
    Anomaly,
    /// A static line held for a duration (--above/--below, --for).
    Threshold,
    /// NAB's windowed-Gaussian baseline, for benchmarking.
    Zscore,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    Duration::parse(s).map_err(|e| e.to_string())
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let method = match args.method {
        MethodName::Anomaly => {
            if !(args.sensitivity.is_finite() && args.sensitivity > 0.0) {
                bail!("--sensitivity must be a positive number");
            }
            Method::Anomaly {
                sensitivity: args.sensitivity,
            }
        }
        MethodName::Threshold => {
            if args.above.is_none() && args.below.is_none() {
                bail!("--method threshold needs --above, --below or both");
            }
            Method::Threshold {
                above: args.above,
                below: args.below,
                for_secs: args.for_.as_secs(),
            }
        }
        MethodName::Zscore => Method::Zscore,
    };
    let input = args.input.display().to_string();
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {input}"))?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    score_csv(&input, &text, &method, &mut out).with_context(|| input.clone())?;
    out.flush().context("writing the scores")?;
    Ok(ExitCode::SUCCESS)
}

/// Scores every row of a `timestamp,value` CSV and writes
/// `timestamp,value,anomaly_score`, echoing the row's own text.
fn score_csv(name: &str, text: &str, method: &Method, out: &mut impl Write) -> anyhow::Result<()> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, header)) = lines.next() else {
        bail!("line 1: empty file; expected a `timestamp,value` header");
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    if columns.len() < 2
        || !columns[0].eq_ignore_ascii_case("timestamp")
        || !columns[1].eq_ignore_ascii_case("value")
    {
        bail!("line 1: expected a `timestamp,value` header, found {header:?}");
    }
    writeln!(out, "timestamp,value,anomaly_score")?;
    let mut detector = Detector::new(method);
    let mut previous: Option<jiff::Timestamp> = None;
    let mut out_of_order = 0usize;
    for (line, row) in lines {
        if row.trim().is_empty() {
            continue;
        }
        let mut fields = row.split(',').map(str::trim);
        let (Some(ts_text), Some(value_text)) = (fields.next(), fields.next()) else {
            bail!("line {line}: expected `timestamp,value`, found {row:?}");
        };
        let at = parse_timestamp(ts_text).with_context(|| format!("line {line}"))?;
        let value: f64 = value_text
            .parse()
            .map_err(|_| anyhow::anyhow!("line {line}: value {value_text:?} is not a number"))?;
        // Real streams have the odd row out of order (NAB's machine
        // temperature steps back 55 minutes once); the detector scores such
        // rows 0 without learning from them, as the server would.
        match previous {
            Some(prev) if at < prev => {
                out_of_order += 1;
                if out_of_order == 1 {
                    eprintln!(
                        "warning: {name}: line {line}: {ts_text} is before an earlier row ({prev}); \
                         out-of-order rows score 0 and are not learnt from"
                    );
                }
            }
            _ => previous = Some(at),
        }
        let score = detector.observe(at.as_second(), value);
        writeln!(out, "{ts_text},{value_text},{score}")?;
    }
    if out_of_order > 1 {
        eprintln!("warning: {name}: {out_of_order} rows out of time order in all");
    }
    Ok(())
}

/// `2014-04-10 07:15:00` (UTC) or an RFC 3339 instant.
fn parse_timestamp(text: &str) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil: jiff::civil::DateTime = text.parse().map_err(|e| {
        anyhow::anyhow!(
            "timestamp {text:?} is not a date and time such as 2014-04-10 07:15:00 ({e})"
        )
    })?;
    jiff::tz::Offset::UTC
        .to_timestamp(civil)
        .map_err(|e| anyhow::anyhow!("timestamp {text:?} is out of range ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(text: &str, method: &Method) -> anyhow::Result<String> {
        let mut out = Vec::new();
        score_csv("test.csv", text, method, &mut out)?;
        Ok(String::from_utf8(out)?)
    }

    #[test]
    fn writes_one_scored_row_per_input_row() {
        let text = "timestamp,value\n2014-04-10 07:15:00,5\n2014-04-10 07:20:00,95.5\n";
        let method = Method::Threshold {
            above: Some(90.0),
            below: None,
            for_secs: 0,
        };
        assert_eq!(
            scores(text, &method).unwrap(),
            "timestamp,value,anomaly_score\n2014-04-10 07:15:00,5,0\n2014-04-10 07:20:00,95.5,1\n"
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let method = Method::Zscore;
        let bad_value = "timestamp,value\n2014-04-10 07:15:00,1\n2014-04-10 07:20:00,abc\n";
        let e = format!("{:#}", scores(bad_value, &method).unwrap_err());
        assert!(e.contains("line 3") && e.contains("not a number"), "{e}");

        let bad_time = "timestamp,value\nyesterday,1\n";
        let e = format!("{:#}", scores(bad_time, &method).unwrap_err());
        assert!(e.contains("line 2") && e.contains("yesterday"), "{e}");

        let e = format!("{:#}", scores("time,val\n", &method).unwrap_err());
        assert!(e.contains("line 1") && e.contains("header"), "{e}");
    }

    #[test]
    fn rows_out_of_time_order_score_zero() {
        let text = "timestamp,value\n2014-04-10 07:15:00,1\n2014-04-10 07:10:00,100\n";
        let method = Method::Threshold {
            above: Some(50.0),
            below: None,
            for_secs: 0,
        };
        assert!(scores(text, &method).unwrap().ends_with("07:10:00,100,0\n"));
    }

    #[test]
    fn naive_timestamps_are_utc() {
        let at = parse_timestamp("2014-04-10 07:15:00").unwrap();
        assert_eq!(
            at,
            "2014-04-10T07:15:00Z".parse::<jiff::Timestamp>().unwrap()
        );
    }
}
