//! `unlearn-audit run PLAN [--out DIR]`: runs an audit plan and writes `report.json`,
//! `report.md` and `report.html`. The analysis is `unlearn_audit::plan`; this file parses
//! arguments, draws the progress bar and writes files. Exit code: the verdict's (0 pass,
//! 1 fail, 3 inconclusive), 2 for a bad plan or input.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use unlearn_audit::plan::{PlanProgress, load_plan, render_html, run_plan};
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

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
struct Bar(ProgressBar);

impl PlanProgress for Bar {
    fn start(&self, total: usize) {
        self.0.set_length(total as u64);
    }
    fn step(&self, name: &str) {
        if self.0.message().is_empty() {
            self.0.set_message(name.to_string());
        } else {
            self.0.inc(1);
            self.0.set_message(name.to_string());
        }
    }
    fn runs(&self, done: usize, total: usize) {
        self.0.set_message(format!("sampling: {done}/{total} runs"));
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let plan = load_plan(&args.plan)?;
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} ({elapsed})")
            .expect("static template"),
    );
    let report = run_plan(&plan, &Bar(bar))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the output directory", args.out.display()))?;
    let json = report::to_json(&report)?;
    let write = |name: &str, text: &str| {
        let path = args.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))
    };
    write("report.json", &json)?;
    write(
        "report.md",
        &format!("# {}\n\n{}", report.title(), report.markdown()),
    )?;
    write("report.html", &render_html(&report))?;
    if args.json {
        print!("{json}");
    } else {
        println!("# {}\n", report.title());
        println!(
            "{}",
            report
                .text()
                .split("\n## ")
                .next()
                .unwrap_or_default()
                .trim_end()
        );
        println!("\n## Rules\n");
        print!("{}", report.rules_table().markdown());
        println!("\nReports: {}/report.{{json,md,html}}", args.out.display());
    }
    Ok(report.outcome().exit_code())
}
