//! The same scenarios (`scenarios/mod.rs`) through both public APIs against the real
//! `codex app-server`: `async_api::*` drives `codex_app_server::Codex`,
//! `blocking_api::*` drives `codex_app_server::blocking::Codex`.

mod common;
mod login_support;
mod scenarios;

macro_rules! parity {
    ($($scenario:ident),* $(,)?) => {
        mod async_api {
            $(
                #[tokio::test]
                async fn $scenario() {
                    crate::scenarios::$scenario::<codex_app_server::Codex>().await
                }
            )*
        }
        mod blocking_api {
            $(
                #[tokio::test]
                async fn $scenario() {
                    crate::scenarios::$scenario::<codex_app_server::blocking::Codex>().await
                }
            )*
        }
    };
}

parity!(
    run_returns_final_response_and_usage,
    stream_yields_deltas_then_turn_completed,
    steer_adds_input_to_the_running_turn,
    interrupt_then_a_follow_up_turn,
    failed_turn_is_an_error,
    thread_lifecycle,
    accepted_command_approval_runs,
    approvals_fail_closed_without_a_handler,
    killed_app_server_is_transport_closed,
    typed_output_parses_or_reports_a_mismatch,
    goal_runs_interrupts_and_resumes,
    device_code_login_succeeds_or_is_cancelled,
);
