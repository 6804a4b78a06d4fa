//! The real binary, run as a user would.

use std::process::Command;

use crate::common::scene_path;

fn colony() -> Command {
    Command::new(env!("CARGO_BIN_EXE_colony"))
}

#[test]
fn check_accepts_shipped_scenes_and_rejects_a_bad_one_with_its_place() {
    let ok = colony().arg("check").arg(scene_path("foraging")).output().expect("run colony");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = tmp.path().join("bad.ron");
    let text = std::fs::read_to_string(scene_path("foraging")).expect("read");
    std::fs::write(&bad, text.replace("episode_steps: 200", "episode_steps: 200,\n    colour: Red")).expect("write");
    let out = colony().arg("check").arg(&bad).output().expect("run colony");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:9:5:", bad.display())), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn train_improves_reward_and_beats_random_then_eval_reads_the_policy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("forage");
    let run = colony()
        .args(["train", &scene_path("foraging").display().to_string(), "--episodes", "600", "--envs", "2"])
        .args(["--eval-episodes", "40", "--quiet", "--out", &out.display().to_string()])
        .output()
        .expect("run colony train");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for f in ["policy.safetensors", "metrics.csv", "summary.json", "learning_curve.png", "checkpoint.json"] {
        assert!(out.join(f).exists(), "missing {f}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary")).expect("json");
    let f = |path: &[&str]| path.iter().fold(&summary, |v, k| &v[*k]).as_f64().expect("number");
    assert!(f(&["last", "reward"]) > f(&["first", "reward"]) + 5.0, "reward should improve: {summary}");
    assert!(
        f(&["eval_greedy", "efficiency"]) > 2.0 * f(&["eval_random", "efficiency"]),
        "greedy should beat random 2x: {summary}"
    );
    let policy = out.join("policy.safetensors");
    let eval = colony()
        .args(["eval", &scene_path("foraging").display().to_string(), "--policy", &policy.display().to_string()])
        .args(["--episodes", "10", "--comm", "off"])
        .output()
        .expect("run colony eval");
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).expect("eval prints JSON");
    assert_eq!(report["comm"], "Off");
    assert_eq!(report["mean"]["messages_sent"], 0.0);
    assert_eq!(report["episodes"], 10);
}

#[test]
fn bench_prints_json_with_both_thread_counts() {
    let out = colony().args(["bench", "--json", "--steps", "50"]).output().expect("run colony bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v["core"]["single_thread"]["agent_steps_per_sec"].as_f64().is_some_and(|x| x > 0.0));
    assert!(v["core"]["all_threads"]["agent_steps_per_sec"].as_f64().is_some_and(|x| x > 0.0));
}

#[test]
fn eval_with_a_missing_policy_fails_cleanly() {
    let out = colony()
        .args(["eval", &scene_path("foraging").display().to_string(), "--policy", "/nonexistent/p.safetensors"])
        .output()
        .expect("run colony eval");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/p.safetensors"));
}

#[test]
fn ctrl_c_writes_a_final_checkpoint_and_resume_continues() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("interrupted");
    let scene = scene_path("foraging").display().to_string();
    let mut child = colony()
        .args(["train", &scene, "--episodes", "1000000", "--eval-episodes", "0", "--quiet"])
        .args(["--out", &out.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start colony train");
    std::thread::sleep(std::time::Duration::from_millis(4000));
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "an interrupted run exits cleanly: {status:?}");
    let ckpt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("checkpoint.json")).expect("checkpoint")).expect("json");
    let done = ckpt["episodes_done"].as_u64().expect("episodes_done");
    assert!(done > 0 && done < 1_000_000, "{done}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary")).expect("json");
    assert_eq!(summary["interrupted"], true);
    let resumed = colony()
        .args(["train", &scene, "--episodes", &(done + 2).to_string(), "--eval-episodes", "0", "--quiet"])
        .args(["--resume", &out.display().to_string()])
        .output()
        .expect("resume");
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let ckpt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("checkpoint.json")).expect("checkpoint")).expect("json");
    assert_eq!(ckpt["episodes_done"].as_u64(), Some(done + 2));
}
