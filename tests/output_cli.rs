//! What users read on a pipe: `--quiet` prints the final summary only, the plain progress log
//! otherwise (tokens/s for a language model), and the schedule chart's legend.

mod common;

use std::path::Path;

use common::{root, run, text, write_tiny_llama};

fn config(name: &str) -> String {
    root().join("configs").join(name).to_string_lossy().into_owned()
}

#[test]
fn quiet_on_a_pipe_prints_only_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    // 200 steps: two warm restarts (events) and four evaluations happen, none of them printed.
    let args = ["train", &config("cosine_restart.yaml"), "--set", "train.max_steps=200", "-q"];
    let out = run(dir.path(), &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr, "");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert!(lines[0].starts_with("completed: 200/200 steps in "), "{stdout}");
    assert!(lines[1].starts_with("  val/accuracy: final 0.") && lines[1].contains(", best 0."), "{stdout}");
    assert!(lines[2].starts_with("  val/loss:     final 0.") && lines[2].contains(", best 0."), "{stdout}");
    assert_eq!(lines[3], "  run directory: runs/cosine_restart/version_0");
    assert_eq!(lines[4], "  checkpoint:    runs/cosine_restart/version_0/checkpoints/step-00000200");
    assert_eq!(lines[5], "watch it: tensorboard --logdir runs");
}

#[test]
fn without_quiet_a_pipe_gets_one_plain_line_per_interval_and_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["train", &config("cosine_restart.yaml"), "--set", "train.max_steps=200"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let steps: Vec<&str> = stdout.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(steps.len(), 22, "every 10 steps, plus two events' `step N:` lines:\n{stdout}");
    assert!(steps.iter().any(|l| l.starts_with("step     10/200 loss ") && l.contains(" samples/s")), "{stdout}");
    assert!(stdout.contains("step 70: warm restart (cycle 1)"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "  watch it: tensorboard --logdir runs"), "at the start: {stdout}");
    assert!(!stdout.contains('\r'), "no bar on a pipe");
}

#[test]
fn a_language_model_reports_tokens_per_second() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-llama");
    write_tiny_llama(&model);
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "the cat sat on the mat and the dog ran in the sun. ".repeat(60)).unwrap();
    let config = dir.path().join("lm.yaml");
    let yaml = format!(
        "name: lm
model: {{kind: causal_lm, local_dir: '{}', lora: {{r: 4, alpha: 8, target_modules: [q_proj, v_proj]}}}}
data: {{kind: text, path: '{}', block_size: 32, val_size: 4}}
optimizer: {{kind: adamw, lr: 0.02}}
schedule: {{kind: constant}}
train: {{max_steps: 4, batch_size: 4, eval_every: 4, eval_batch_size: 4}}
",
        model.display(),
        corpus.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let out = run(dir.path(), &["train", config.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let progress: Vec<&str> = stdout.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(progress.len(), 4, "{stdout}");
    for line in progress {
        let rate = line.split(" lr ").nth(1).and_then(|r| r.split_whitespace().nth(1)).unwrap();
        assert!(line.ends_with(" tokens/s") && rate.parse::<f64>().unwrap() > 0.0, "{line}");
    }
}

/// The legend line under `schedule`'s terminal chart, if any.
fn legend(dir: &Path, yaml: &str) -> Option<String> {
    let file = dir.join("s.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = run(dir, &["schedule", file.to_str().unwrap(), "--steps", "150"]);
    assert!(out.status.success(), "{}", text(&out).1);
    text(&out).0.lines().find(|l| l.contains(" = ")).map(|l| l.trim().to_owned())
}

#[test]
fn the_terminal_legend_lists_only_the_markers_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let sgd = "optimizer: {kind: sgd, lr: 0.1}\n";
    let restarts = format!(
        "{sgd}schedule: {{kind: cosine_restarts, t_0: 20, t_mult: 2, warmup: {{steps: 10, start_factor: 0.1}}}}\n"
    );
    assert_eq!(legend(dir.path(), &restarts).as_deref(), Some("W = warmup ends, R = warm restart"));
    let milestones = format!(
        "{sgd}schedule: {{kind: sequential, schedules: [{{kind: constant}}, {{kind: cosine, t_max: 100}}], milestones: [50]}}\n"
    );
    assert_eq!(legend(dir.path(), &milestones).as_deref(), Some("M = milestone"));
    assert_eq!(legend(dir.path(), &format!("{sgd}schedule: {{kind: cosine, t_max: 150}}\n")), None);
    // `multistep` milestones are not key points: nothing drawn, nothing listed (before: all three).
    let multistep = format!("{sgd}schedule: {{kind: multistep, milestones: [50, 100], gamma: 0.5}}\n");
    assert_eq!(legend(dir.path(), &multistep), None);
}

#[test]
fn compare_gives_the_tensorboard_command_that_shows_every_point() {
    let dir = tempfile::tempdir().unwrap();
    let schedules = [config("cosine.yaml"), config("step_decay.yaml")];
    let mut args = vec!["compare".to_owned(), config("cosine_restart.yaml"), "--schedules".to_owned()];
    args.extend(schedules);
    args.extend(["--set", "train.max_steps=1100", "--set", "train.eval_every=500"].map(str::to_owned));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(dir.path(), &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let want =
        "overlay the curves: tensorboard --logdir runs/cosine_restart/compare-0 --samples_per_plugin scalars=2000";
    assert!(stdout.lines().any(|l| l == want), "1100 points per tag, more than TensorBoard's 1000:\n{stdout}");
}
