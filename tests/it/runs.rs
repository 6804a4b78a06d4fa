//! Training runs through the library: determinism across thread counts,
//! resume equivalence, learning beating random.

use std::sync::atomic::AtomicBool;

use colony::headless::{TrainOptions, train};
use colony::scene::Scene;

use crate::common::{scene_path, shipped};

fn options(scene: Scene, out: &std::path::Path, episodes: u64, envs: u32, threads: usize) -> TrainOptions {
    TrainOptions {
        scene_file: scene_path(&scene.name),
        scene,
        episodes,
        envs,
        threads,
        seed: 11,
        out: out.to_path_buf(),
        checkpoint_every: 4,
        resume: false,
        progress: false,
        eval_episodes: 0,
        lm: colony::lm::LmSettings::default(),
    }
}

fn read(dir: &std::path::Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
}

/// Trains the same run on 1 and on 2 threads and checks that the metrics,
/// policy and summary come out byte for byte the same; returns the 1-thread
/// output folder.
fn train_on_one_and_two_threads(tmp: &tempfile::TempDir, scene: Scene, episodes: u64, envs: u32) -> std::path::PathBuf {
    let (a, b) = (tmp.path().join("t1"), tmp.path().join("t2"));
    let stop = AtomicBool::new(false);
    train(&options(scene.clone(), &a, episodes, envs, 1), &stop).expect("train 1 thread");
    train(&options(scene, &b, episodes, envs, 2), &stop).expect("train 2 threads");
    for file in ["metrics.csv", "policy.safetensors", "summary.json"] {
        assert_eq!(read(&a, file), read(&b, file), "{file} differs between 1 and 2 threads");
    }
    a
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut scene = shipped("foraging");
    scene.episode_steps = 60;
    let a = train_on_one_and_two_threads(&tmp, scene, 12, 4);
    let csv = String::from_utf8(read(&a, "metrics.csv")).expect("utf8");
    assert_eq!(csv.lines().count(), 13, "header + one row per episode");
}

#[test]
fn resuming_gives_the_same_policy_as_training_straight() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (straight, split) = (tmp.path().join("straight"), tmp.path().join("split"));
    let mut scene = shipped("heavy_lift");
    scene.episode_steps = 50;
    let stop = AtomicBool::new(false);
    train(&options(scene.clone(), &straight, 16, 2, 2), &stop).expect("straight");
    train(&options(scene.clone(), &split, 8, 2, 2), &stop).expect("first half");
    let mut resume = options(scene, &split, 16, 2, 1);
    resume.resume = true;
    let s = train(&resume, &stop).expect("resume");
    assert_eq!(s.episodes, 16);
    assert_eq!(read(&straight, "policy.safetensors"), read(&split, "policy.safetensors"));
    assert_eq!(read(&straight, "metrics.csv"), read(&split, "metrics.csv"));
}

#[test]
fn a_stop_request_writes_a_checkpoint_that_resumes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("stopped");
    let mut scene = shipped("foraging");
    scene.episode_steps = 20;
    let stop = AtomicBool::new(true);
    let s = train(&options(scene.clone(), &out, 10, 2, 1), &stop).expect("stopped run");
    assert!(s.interrupted);
    assert_eq!(s.episodes, 0);
    assert!(out.join("checkpoint.json").exists() && out.join("policy.safetensors").exists());
    let mut resume = options(scene, &out, 10, 2, 1);
    resume.resume = true;
    let s = train(&resume, &AtomicBool::new(false)).expect("resume");
    assert_eq!((s.episodes, s.interrupted), (10, false));
}

#[test]
fn a_corrupt_checkpoint_is_reported_not_trusted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("bad");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("checkpoint.json"), b"{ not json").expect("write");
    let mut o = options(shipped("foraging"), &out, 4, 1, 1);
    o.resume = true;
    let err = train(&o, &AtomicBool::new(false)).expect_err("corrupt checkpoint");
    assert!(err.to_string().contains("checkpoint"), "{err}");
}

#[test]
fn llm_runs_do_not_depend_on_the_thread_count_either() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut scene = shipped("babel");
    scene.episode_steps = 40;
    let a = train_on_one_and_two_threads(&tmp, scene, 4, 2);
    let csv = String::from_utf8(read(&a, "metrics.csv")).expect("utf8");
    let translated: u64 = csv.lines().skip(1).filter_map(|l| l.split(',').nth(13)?.parse::<u64>().ok()).sum();
    assert!(translated > 0, "babel talks across dialects through the model:\n{csv}");
}
