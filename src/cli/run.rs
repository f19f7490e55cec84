//! `unlearn-audit run PLAN [--out DIR]`: runs an audit plan and writes `report.json`,
//! `report.md` and `report.html`. The analysis is `unlearn_audit::plan`; this file parses
//! arguments, draws the progress bar and writes files. Exit code: the verdict's (0 pass,
//! 1 fail, 3 inconclusive), 2 for a bad plan or input.

use std::path::PathBuf;

use anyhow::Context;
use unlearn_audit::plan::{PlanProgress, load_plan, render_html, run_plan};

use super::progress::Progress;
use unlearn_audit::report::{self, Finding};

/// Arguments of `unlearn-audit run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audit plan (TOML; paths inside it are relative to the plan file).
    #[arg(value_name = "PLAN")]
    plan: PathBuf,
    /// Directory for report.json, report.md and report.html (created if absent).
    #[arg(long, value_name = "DIR", default_value = "unlearn-audit-report")]
    out: PathBuf,
    /// Print report.json on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Plan progress: a bar over the plan's steps on a terminal (sampling runs in its message),
/// rate-limited `progress:` lines otherwise (`super::progress`).
struct Bar {
    steps: Progress,
    runs: Progress,
    step_started: std::sync::atomic::AtomicBool,
}

impl PlanProgress for Bar {
    fn start(&self, total: usize) {
        self.steps.set_total(total as u64);
    }
    fn step(&self, name: &str) {
        let done = if self
            .step_started
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.steps.done() + 1
        } else {
            0
        };
        self.steps.set_position(done, Some(name));
    }
    fn runs(&self, done: usize, total: usize) {
        if self.runs.total() != total as u64 {
            self.runs.set_total(total as u64);
        }
        self.runs.set_position(done as u64, None);
        self.steps.set_position(
            self.steps.done(),
            Some(&format!("sampling: {done}/{total} runs")),
        );
    }
    fn finish(&self) {}
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let plan = load_plan(&args.plan)?;
    let label = format!("run {}", args.plan.display());
    let bar = Bar {
        steps: Progress::new(&label, "{spinner} [{pos}/{len}] {msg} ({elapsed})"),
        runs: Progress::new(&format!("{label}: sampling"), "{msg}"),
        step_started: std::sync::atomic::AtomicBool::new(false),
    };
    let report = run_plan(&plan, &bar);
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            bar.steps.finish("stopped", "input error (exit 2)");
            return Err(error.into());
        }
    };
    let runs = bar.runs.total();
    bar.steps.finish(
        &format!(
            "{} steps{}",
            bar.steps.total(),
            if runs > 0 {
                format!(", {runs} sampled runs")
            } else {
                String::new()
            }
        ),
        &format!("outcome {}", report.outcome().name()),
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the output directory", args.out.display()))?;
    let json = report::to_json(&report)?;
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))
    };
    write("report.json", &json)?;
    // Reasons assembled from raw floats are rounded for reading; report.json keeps them.
    write(
        "report.md",
        &report::round_floats(&format!("# {}\n\n{}", report.title(), report.markdown())),
    )?;
    write("report.html", &render_html(&report))?;
    if args.json {
        print!("{json}");
    } else {
        println!("# {}\n", report.title());
        println!(
            "{}",
            report::round_floats(
                report
                    .text()
                    .split("\n## ")
                    .next()
                    .unwrap_or_default()
                    .trim_end()
            )
        );
        println!("\n## Rules\n");
        print!("{}", report.rules_table().markdown());
        println!("\nReports: {}/report.{{json,md,html}}", args.out.display());
    }
    Ok(report.outcome().exit_code())
}
