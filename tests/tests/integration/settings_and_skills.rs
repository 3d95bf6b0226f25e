//! Thread settings across turns, forks and resumes, and skill input, against the real binary.

use crate::common;
use codex_driver::testing::MockResponse;
use codex_driver::types::{ApprovalsReviewer, AskForApproval};
use codex_driver::{ApprovalMode, Input, ThreadOptions, TurnOptions};
use common::{within, World};

/// The approval mode set on thread start is reported back; a per-turn override persists
/// to the thread, so a fork and a resume in a second process report it.
#[tokio::test]
async fn approval_mode_persists_across_turns_fork_and_resume() {
    let world = World::start().await;
    let thread = within(
        "thread/start",
        world.codex.thread_start(&ThreadOptions::default().approval_mode(ApprovalMode::DenyAll)),
    )
    .await
    .unwrap();
    let settings = thread.settings().expect("thread_start reports settings");
    assert_eq!(settings.approval_policy, AskForApproval::Never);
    assert_eq!(settings.model, "mock-model");

    world.model.push(MockResponse::text("first"));
    let turn = TurnOptions::default().approval_mode(ApprovalMode::AskUser);
    within("turn", thread.run_with("switch to asking", &turn)).await.unwrap();

    let fork = within("thread/fork", world.codex.thread_fork(thread.id(), &ThreadOptions::default())).await.unwrap();
    let forked = fork.settings().expect("thread_fork reports settings");
    assert_eq!(forked.approval_policy, AskForApproval::OnRequest, "the turn override persists into a fork");
    assert_eq!(forked.approvals_reviewer, ApprovalsReviewer::User);

    world.codex.close().await;
    let second = world.second_client().await;
    let resumed = within("thread/resume", second.thread_resume(thread.id(), &ThreadOptions::default())).await.unwrap();
    let resumed = resumed.settings().expect("thread_resume reports settings");
    assert_eq!(resumed.approval_policy, AskForApproval::OnRequest, "the turn override persists across processes");
}

/// A skill input makes Codex inject the skill's instructions into the model request.
#[tokio::test]
async fn skill_input_injects_the_skill_body() {
    let world = World::start().await;
    // Codex loads skills from `$CODEX_HOME/skills/<name>/SKILL.md`.
    let dir = world.home.codex_home().join("skills/greeter");
    std::fs::create_dir_all(&dir).unwrap();
    let skill = dir.join("SKILL.md");
    std::fs::write(
        &skill,
        "---\nname: greeter\ndescription: Greets people warmly\n---\n\nAlways greet with the words PURPLE-PINEAPPLE-42.\n",
    )
    .unwrap();
    let thread = within("thread/start", world.codex.thread_start(&ThreadOptions::default())).await.unwrap();
    // Control: the skill exists, but without the skill input its body is not sent.
    world.model.push(MockResponse::text("hi"));
    within("turn without the skill", thread.run("greet me")).await.unwrap();
    let plain = world.model.last_request().expect("a model request");
    assert!(!plain.body_contains("PURPLE-PINEAPPLE-42"), "the skill body was sent without the skill input");

    world.model.push(MockResponse::text("PURPLE-PINEAPPLE-42, hello!"));
    let result = within("turn", thread.run([Input::text("greet me"), Input::skill("greeter", &skill)])).await.unwrap();
    assert_eq!(result.final_response(), Some("PURPLE-PINEAPPLE-42, hello!"));
    let request = world.model.last_request().expect("one model request");
    let user_texts = request.user_texts();
    assert!(
        request.body_contains("PURPLE-PINEAPPLE-42"),
        "the skill body is not in the model request; its user texts: {user_texts:?}"
    );
}
